package org.xenfork.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.StoppedException;
import org.xenfork.fork.devicemodel.DeviceModel;
import org.xenfork.fork.devicemodel.DeviceModelArgs;
import org.xenfork.fork.devicemodel.DeviceModelConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork fork-launch-dm}: the second step of the posted design, a QEMU for
 * an existing fork that turned out to need devices. Also {@code fork-vm
 * --launch-dm late}, which the posted v19 {@code xl fork-vm} made of it.
 */
@Command(name = "fork-launch-dm", description = "Start a QEMU device model for an existing fork, loading the device "
        + "state saved from its parent (QEMU -incoming).",
        footer = {"",
            "CONFIG is an xl config for the fork's QEMU: as the parent's, with its own name, serial file and disk copies.",
            "xenfork reads the keys that shape the device model and refuses the ones it cannot reproduce, naming the line.",
            "As QEMU runs as root, a config may give serial = pty or a file in /var/log/xen, a device_model_override",
            "that is a QEMU only root can change, and device_model_args -S and -rtc only (more with --allow-dm-args).",
            "QEMU gets libxl's QMP socket and xenstore keys, so xl unpause and xl destroy work on the fork.",
            "The fork runs once its QEMU does, unless -p. If QEMU does not come up it is killed, its keys are removed,",
            "and the error quotes its log; the fork stays as it was.",
            "On SIGINT (Ctrl-C), SIGTERM or SIGHUP before QEMU is up, QEMU is killed and its keys removed",
            "in the same way; after, the launch is finished. --json then adds interrupted: true (dm is null",
            "when QEMU was stopped). Exit code 128 + the signal: 130, 143, 129.",
            "Example:",
            "  xenfork fork-launch-dm -C fork.cfg -Q parent.state 7"})
final class ForkLaunchDmCommand implements Runnable {
    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Option(names = "-C", paramLabel = "CONFIG", description = "xl config for the fork's device model.")
    Path config;

    @Option(names = "-Q", paramLabel = "SAVE_FILE",
            description = "Device state saved from the paused parent (xenfork save-devices-state).")
    Path saveFile;

    @Option(names = "-p", description = "Leave the fork paused (default: let it run once QEMU does).")
    boolean paused;

    @Option(names = "--allow-dm-args", description = "Pass the config's device_model_args to QEMU as they are, as xl "
            + "does (default: only " + DeviceModelConfig.ALLOWED_ARGS + ").")
    boolean allowDmArgs;

    @Parameters(paramLabel = "FORK", description = "The fork's domain id or name.")
    String fork;

    @Override
    public void run() {
        launch(root, spec, DeviceModelRequest.of(root, config, saveFile, allowDmArgs, "fork-launch-dm"), fork, paused);
    }

    /** Shared with {@code fork-vm --launch-dm late}. */
    static void launch(XenforkCommand root, CommandSpec spec, DeviceModelRequest request, String fork, boolean paused) {
        PrintWriter err = spec.commandLine().getErr();
        DomainArgument arg = DomainArgument.parse(fork, "launch a device model for");
        try (Backend b = Backend.open(root, err)) {
            int f = arg.resolve(b);
            if (root.dryRun) {
                err.println("xenfork: dry run: would start " + String.join(" ", DeviceModelArgs.build(request.config(), f,
                        root.deviceModels.runDir())) + " < " + request.saveFile());
                return;
            }
            StopRequest stop = root.signals.install(err);
            DeviceModel dm;
            try {
                dm = request.forks(b, root, err).launch(f, request.config(), request.saveFile(), paused);
            } catch (StoppedException e) {
                if (root.json) {
                    spec.commandLine().getOut().println(json(f, null, true));
                }
                throw e;
            }
            if (root.json) {
                spec.commandLine().getOut().println(json(f, dm, stop.requested()));
            } else {
                spec.commandLine().getOut().println(f);
            }
        } catch (IOException e) {
            throw DeviceModelRequest.failed(e);
        }
    }

    /**
     * {@code {"domid", "dm": {"pid", "qmp", "log"}}}; once a signal asked the command to stop, also
     * {@code "interrupted": true}, with {@code "dm": null} if QEMU was stopped before it was up.
     */
    static ObjectNode json(int domid, DeviceModel dm, boolean interrupted) {
        ObjectNode o = AbiCommand.JSON.createObjectNode().put("domid", domid);
        if (dm == null) {
            o.putNull("dm");
        } else {
            o.putObject("dm").put("pid", dm.pid()).put("qmp", dm.qmp().toString()).put("log", dm.log().toString());
        }
        if (interrupted) {
            o.put("interrupted", true);
        }
        return o;
    }
}
