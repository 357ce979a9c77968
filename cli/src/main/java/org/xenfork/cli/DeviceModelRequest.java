package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkStep;
import org.xenfork.fork.devicemodel.DeviceModelConfig;
import org.xenfork.fork.devicemodel.DeviceModelForks;
import org.xenfork.fork.devicemodel.DeviceStateFile;
import org.xenfork.fork.devicemodel.XlConfig;

/**
 * {@code -C CONFIG -Q SAVE_FILE} of {@code fork-vm --launch-dm} and
 * {@code fork-launch-dm}: read and checked before any device opens, so a bad
 * config changes nothing (exit 2).
 */
record DeviceModelRequest(DeviceModelConfig config, Path saveFile) {

    /**
     * @param allowDmArgs {@code --allow-dm-args}: pass the config's {@code device_model_args} as they are
     */
    static DeviceModelRequest of(XenforkCommand root, Path config, Path saveFile, boolean allowDmArgs, String what) {
        if (config == null || saveFile == null) {
            throw new UsageException(what + " needs -C CONFIG (an xl config for the fork's QEMU) and -Q SAVE_FILE "
                    + "(made by xenfork save-devices-state on the paused parent)");
        }
        if (root.backend == Backend.Kind.sim) {
            throw new UsageException(what + ": --backend sim has no QEMU device models: they attach to a real Xen's "
                    + "domains");
        }
        try {
            DeviceModelConfig cfg = DeviceModelConfig.of(XlConfig.read(config),
                    new DeviceModelConfig.Limits(root.deviceModels.logDir(), allowDmArgs));
            DeviceStateFile.check(saveFile);
            return new DeviceModelRequest(cfg, saveFile);
        } catch (IOException e) {
            throw new UsageException("cannot read " + config + " or " + saveFile + ": " + e.getMessage());
        }
    }

    /** The device-model workflows over {@code b}. */
    DeviceModelForks forks(Backend b, XenforkCommand root, PrintWriter err) {
        return new DeviceModelForks(b.forker(err), b.deviceModels(err, root.deviceModels));
    }

    /** What an I/O failure while launching means to the user: the step, and that the rollback ran. */
    static ForkException failed(IOException e) {
        return new ForkException(ForkStep.LAUNCH_DM, e, List.of());
    }
}
