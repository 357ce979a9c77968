package org.xenfork.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.Forker;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.StoppedException;
import org.xenfork.fork.Undo;
import org.xenfork.fork.VmFork;
import org.xenfork.fork.devicemodel.DeviceModelConfig;
import org.xenfork.privcmd.Domid;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork fork-vm}: the posted {@code xl fork-vm}. stdout carries only the
 * new domids (or the JSON array), so {@code F=$(xenfork fork-vm P)} works;
 * everything else is stderr.
 */
@Command(name = "fork-vm", description = "Fork a paused HVM or PVH guest: an empty domain like it, "
        + "then XENMEM_sharing_op_fork (memory shared copy-on-write).",
        footer = {"",
            "The parent stays paused while forks of it exist; a running parent is paused first (and said so).",
            "Each new fork's domid is printed on its own line on stdout; with --json, an array of",
            "{domid, name, parent}. Forking needs Xen built with CONFIG_MEM_SHARING on Intel VT-x with HAP.",
            "--launch-dm yes forks the paused parent and starts the fork's QEMU with the device state saved from",
            "the parent (-Q, see save-devices-state) and an xl config for it (-C, see fork-launch-dm); if QEMU",
            "fails, the fork is destroyed. --launch-dm late does the second half for an existing fork.",
            "On SIGINT (Ctrl-C), SIGTERM or SIGHUP xenfork stops at the next safe point: a fork whose",
            "domain exists is finished (one waiting for its QEMU is rolled back: QEMU killed, keys removed,",
            "fork destroyed), the forks made are kept and printed, and the parent stays paused (unpaused",
            "again only if no fork was made and xenfork had paused it). --json then prints {interrupted:",
            "true, forks: [...], parent, parent_paused}. Exit code 128 + the signal: 130, 143, 129.",
            "Examples:",
            "  F=$(xenfork fork-vm -p --block-interrupts 5)",
            "  xenfork fork-vm --count 3 --name fuzz 5",
            "  xenfork save-devices-state --domid 5 p.state && xenfork fork-vm --launch-dm yes -C f.cfg -Q p.state 5"})
final class ForkVmCommand implements Runnable {
    /** The contract's value spellings. */
    enum LaunchDm { yes, no, late }

    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Option(names = "-p", description = "Leave the fork paused (default: unpause it).")
    boolean paused;

    @Option(names = "--launch-dm", paramLabel = "yes|no|late", defaultValue = "no",
            description = "Start a QEMU device model for the fork: no (default), yes, or late (PARENT is then "
                    + "an existing fork: as fork-launch-dm).")
    LaunchDm launchDm;

    @Option(names = "-C", paramLabel = "CONFIG", description = "xl config for the fork's device model (with --launch-dm).")
    Path config;

    @Option(names = "-Q", paramLabel = "SAVE_FILE", description = "QEMU device state saved from the parent (with --launch-dm).")
    Path saveFile;

    @Option(names = "--allow-dm-args", description = "Pass the config's device_model_args to QEMU as they are (with "
            + "--launch-dm; default: only " + DeviceModelConfig.ALLOWED_ARGS + ").")
    boolean allowDmArgs;

    @Option(names = "--name", paramLabel = "NAME",
            description = "Name the fork in xenstore so xl list shows it; with --count: NAME, NAME-2, ...")
    String name;

    @Option(names = "--count", paramLabel = "N", defaultValue = "1",
            description = "Make N forks; stops at the first failure, keeping the forks made before it.")
    int count;

    @Option(names = "--block-interrupts", description = "XENMEM_FORK_BLOCK_INTERRUPTS: inject no interrupts into the fork "
            + "(for forks without a device model, as fuzzers run them).")
    boolean blockInterrupts;

    @Option(names = "--allow-iommu", description = "XENMEM_FORK_WITH_IOMMU_ALLOWED: the parent may have an IOMMU.")
    boolean allowIommu;

    @Parameters(paramLabel = "PARENT", description = "The parent's domain id or name (for --launch-dm late: the fork).")
    String parent;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (launchDm == LaunchDm.no && (config != null || saveFile != null || allowDmArgs)) {
            throw new UsageException("-C, -Q and --allow-dm-args configure the fork's device model; they need "
                    + "--launch-dm yes|late");
        }
        DeviceModelRequest dm = launchDm == LaunchDm.no ? null
                : DeviceModelRequest.of(root, config, saveFile, allowDmArgs, "--launch-dm " + launchDm);
        if (launchDm == LaunchDm.late) {
            if (count != 1 || name != null || blockInterrupts || allowIommu) {
                throw new UsageException("--launch-dm late starts a QEMU for an existing fork: --count, --name, "
                        + "--block-interrupts and --allow-iommu apply when forking");
            }
            ForkLaunchDmCommand.launch(root, spec, dm, parent, paused);
            return;
        }
        if (dm != null && count != 1) {
            throw new UsageException("--launch-dm yes makes one fork: each fork's QEMU needs its own config "
                    + "(name, serial file, disks); run fork-vm once per fork");
        }
        if (dm != null && root.dryRun) {
            throw new UsageException("--dry-run with --launch-dm yes: try fork-vm --dry-run without it, and "
                    + "fork-launch-dm --dry-run for the QEMU command line");
        }
        if (count < 1 || count >= Domid.FIRST_RESERVED) {
            throw new UsageException("--count must be 1 to " + (Domid.FIRST_RESERVED - 1) + ", not " + count);
        }
        ForkOptions options;
        try {
            options = new ForkOptions(paused, blockInterrupts, allowIommu, name);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--name: " + e.getMessage());
        }
        DomainArgument arg = DomainArgument.parse(parent, "fork");
        StopRequest stop = root.signals.install(err);
        try (Backend b = Backend.open(root, err)) {
            int p = arg.resolve(b);
            if (name != null && !root.dryRun) {
                b.requireNames();
            }
            if (dm != null) {
                forkWithDeviceModel(b, p, options, dm, out, err, stop);
                return;
            }
            Forker forker = b.forker(err);
            List<VmFork> made = new ArrayList<>();
            List<Undo> undone = List.of();
            try {
                forker.fork(p, count, options, f -> {
                    made.add(f.keep());
                    if (root.dryRun) {
                        return;
                    }
                    if (!root.json) {
                        out.println(f.domid());
                        out.flush();
                    }
                    if (count > 1) {
                        err.println("xenfork: fork " + made.size() + "/" + count + ": domain " + f.domid()
                                + f.name().map(n -> " (" + n + ")").orElse(""));
                    }
                });
            } catch (ForkException e) {
                if (!made.isEmpty()) {
                    err.println("xenfork: " + made.size() + " of " + count + " forks were made and are kept");
                }
                undone = e.rollback();
                throw e;
            } catch (StoppedException e) {
                undone = e.rollback();
                throw e;
            } finally {
                if (root.json && !root.dryRun) {
                    printJson(out, made, p, undone, stop);
                }
            }
        }
    }

    private void forkWithDeviceModel(Backend b, int p, ForkOptions options, DeviceModelRequest dm, PrintWriter out,
            PrintWriter err, StopRequest stop) {
        VmFork f;
        try {
            f = dm.forks(b, root, err).fork(p, options, dm.config(), dm.saveFile()).keep();
        } catch (StoppedException e) {
            if (root.json) {
                printJson(out, List.of(), p, e.rollback(), stop);
            }
            throw e;
        } catch (IOException e) {
            throw DeviceModelRequest.failed(e);
        }
        if (root.json) {
            printJson(out, List.of(f), p, List.of(), stop);
        } else {
            out.println(f.domid());
        }
    }

    /**
     * The forks made: an array of {domid, name, parent}, or, once a signal asked the command to stop,
     * {interrupted: true, forks: that array, parent, parent_paused} (still one document, and a new
     * shape only where there used to be no output at all).
     *
     * @param undone what the workflow's failure or stop did: whether it gave the parent's pause back
     */
    private static void printJson(PrintWriter out, List<VmFork> forks, int parent, List<Undo> undone, StopRequest stop) {
        ArrayNode arr = AbiCommand.JSON.createArrayNode();
        for (VmFork f : forks) {
            arr.addObject().put("domid", f.domid()).put("name", f.name().orElse(null)).put("parent", f.parent());
        }
        if (stop.requested()) {
            boolean unpaused = undone.stream().anyMatch(u -> u.action() == Undo.Action.UNPAUSE_PARENT && u.succeeded());
            ObjectNode o = AbiCommand.JSON.createObjectNode().put("interrupted", true);
            o.set("forks", arr);
            o.put("parent", parent).put("parent_paused", !unpaused);
            out.println(o);
        } else {
            out.println(arr);
        }
        out.flush();
    }
}
