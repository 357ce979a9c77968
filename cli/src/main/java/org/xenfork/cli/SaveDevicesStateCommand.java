package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkStep;
import org.xenfork.fork.OutputFile;
import org.xenfork.fork.Undo;
import org.xenfork.fork.devicemodel.DeviceModelArgs;
import org.xenfork.fork.devicemodel.DeviceStateFile;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.qmp.QmpClient;
import org.xenfork.qmp.QmpSocketPathException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork save-devices-state}: the first step of forking with devices, the
 * one the posted {@code xl fork-vm} man page leaves to the user (QMP
 * {@code qmp_capabilities}, then {@code xen-save-devices-state} with
 * {@code live: false} on the parent's QEMU). The file appears whole or not at all.
 */
@Command(name = "save-devices-state", description = "Save the device state of a guest's QEMU to a file "
        + "(QMP xen-save-devices-state), for a fork's device model to load.",
        footer = {"",
            "Pause the guest first: a fork gets the guest's memory as it is when forked, and its devices as saved.",
            "QEMU writes the file (mode 0600) in a private folder beside FILE, renamed over FILE when QEMU is",
            "done; after a failure, a timeout, Ctrl-C or SIGTERM no file is left. FILE must be a regular file or",
            "absent: a folder, symbolic link, device, FIFO or socket there is refused (exit 2), as is a folder",
            "that cannot be written, and one others can write (as /tmp): QEMU writes by name, as root.",
            "--domid finds libxl's QMP socket, /var/run/xen/qmp-libxl-DOMID.",
            "Examples:",
            "  xenfork pause 5 && xenfork save-devices-state --domid 5 /var/lib/xenfork/d5.state",
            "  xenfork save-devices-state --qmp /var/run/xen/qmp-libxl-5 d5.state"})
final class SaveDevicesStateCommand implements Runnable {
    /** Longer than any save seen (about 1 ms here, 100 ms under the rig's emulation). */
    static final Duration TIMEOUT = Duration.ofSeconds(30);

    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    static final class Source {
        @Option(names = "--qmp", paramLabel = "SOCKET", description = "The QEMU's QMP socket.")
        Path qmp;

        @Option(names = "--domid", paramLabel = "DOMAIN", description = "The guest (id or name) whose QEMU libxl or "
                + "xenfork started: its QMP socket is libxl's.")
        String domain;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--live", description = "QMP live=true: QEMU releases its disk images afterwards, as for a "
            + "migration. Without it (live=false, for forking) the guest's QEMU keeps using its disks.")
    boolean live;

    @Parameters(paramLabel = "FILE", description = "Where to save the device state.")
    Path file;

    @Override
    public void run() {
        PrintWriter err = spec.commandLine().getErr();
        OutputFile out = DeviceStateFile.target(file); // refusals first: nothing is asked of QEMU for an unusable path
        Path socket = source.qmp != null ? source.qmp : guestSocket(err);
        if (!Files.exists(socket)) {
            throw new UsageException("no QMP socket at " + socket + (source.domain != null
                    ? ": domain " + source.domain + " has no QEMU device model started by libxl or xenfork" : ""));
        }
        if (root.dryRun) {
            err.println("xenfork: dry run: would send xen-save-devices-state {\"filename\": <a file in a private folder "
                    + "beside " + file + ">, \"live\": " + live + "} to " + socket + ", then rename it to " + file);
            return;
        }
        long size;
        try (QmpClient qmp = connect(socket)) {
            size = DeviceStateFile.save(qmp, out, live, TIMEOUT);
        } catch (IOException e) {
            throw new ForkException(ForkStep.SAVE_DEVICE_STATE, e, List.of(removal(e)));
        }
        if (root.json) {
            spec.commandLine().getOut().println(AbiCommand.JSON.createObjectNode().put("file", file.toString())
                    .put("bytes", size).put("qmp", socket.toString()));
        }
        err.println("xenfork: saved " + size + " bytes of device state from " + socket + " to " + file);
    }

    /** Connects; a path that cannot be a QMP socket is the user's to fix (exit 2), not QEMU's refusal. */
    private static QmpClient connect(Path socket) throws IOException {
        try {
            return QmpClient.connect(socket, TIMEOUT);
        } catch (QmpSocketPathException e) {
            throw new UsageException(e.getMessage() + "; give --qmp the socket of QEMU's -qmp unix:PATH,server=on");
        } catch (NoSuchFileException e) {
            throw new UsageException("no QMP socket at " + socket);
        }
    }

    /** What became of the unfinished file: removed, unless removing it failed too (suppressed by {@code failure}). */
    private Undo removal(IOException failure) {
        for (Throwable t : failure.getSuppressed()) {
            if (t instanceof OutputFile.NotRemovedException left) {
                return Undo.failed(Undo.Action.REMOVE_PARTIAL_FILE, 0, List.of(file.toString()), left);
            }
        }
        return Undo.done(Undo.Action.REMOVE_PARTIAL_FILE, 0, List.of(file.toString()));
    }

    /** libxl's QMP socket of the guest {@code --domid} names, once the guest is known to exist and be HVM. */
    private Path guestSocket(PrintWriter err) {
        DomainArgument arg = DomainArgument.parse(source.domain, "save the device state of");
        try (Backend b = Backend.open(root, err)) {
            int d = arg.resolve(b);
            DomainInfo info = b.xen().domainInfo(d);
            if (!info.has(DomainFlag.HVM_GUEST)) {
                throw new UsageException("domain " + d + " is a PV guest: it has no QEMU device model");
            }
            if (!info.has(DomainFlag.PAUSED)) {
                // QEMU's own run state says nothing here: xl pause stops the vCPUs in Xen, not QEMU
                err.println("xenfork: domain " + d + " is running: its devices are saved as of now and will not match "
                        + "its memory when forked later; for a fork, xenfork pause " + d + " first");
            }
            return DeviceModelArgs.qmpSocket(root.deviceModels.runDir(), d);
        }
    }
}
