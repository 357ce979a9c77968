package org.xenfork.cli;

import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code xenfork fork-launch-dm}: the second step of the posted design, a QEMU
 * for a fork that turned out to need devices. It needs the QMP client and the
 * device-model launcher, which are not built yet; until then it says so and
 * changes nothing.
 */
@Command(name = "fork-launch-dm", description = "Start a QEMU device model for an existing fork (not available yet).",
        footer = {"", "Example:", "  xenfork fork-launch-dm -C fork.cfg -Q parent-dm.state 7"})
final class ForkLaunchDmCommand implements Runnable {
    @Option(names = "-C", paramLabel = "CONFIG", description = "xl config for the device model.")
    Path config;

    @Option(names = "-Q", paramLabel = "SAVE_FILE",
            description = "QEMU device state saved from the parent (xen-save-devices-state).")
    Path saveFile;

    @Parameters(paramLabel = "FORK", description = "The fork's domain id or name.")
    String fork;

    @Override
    public void run() {
        throw new UsageException(notAvailable("fork-launch-dm"));
    }

    /** What a user asking for a device model learns, and what to do meanwhile. */
    static String notAvailable(String what) {
        return what + " is not available in this version: launching a QEMU device model for a fork "
                + "(xen-save-devices-state on the parent's QMP socket, then a QEMU with -incoming) is not built yet. "
                + "Nothing was changed. Fork without a device model (--launch-dm no, the default), "
                + "with --block-interrupts if the guest needs no devices.";
    }
}
