package org.xenfork.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.fork.devicemodel.DeviceModelLauncher;
import org.xenfork.testfixtures.FakeQmpServer;

/**
 * What tests of the device-model commands extend: a test's own run and log folders in place of
 * libxl's, and a fake QEMU's QMP socket where libxl would put domain 1's ({@code run/qmp-libxl-1}).
 */
abstract class DeviceModelCommandRunner extends CommandRunner {
    @TempDir
    Path dir;

    FakeQmpServer qmp;

    @BeforeEach
    void startFakeQemu() throws IOException {
        Files.createDirectories(dir.resolve("run"));
        deviceModels = new DeviceModelLauncher.Settings(dir.resolve("run"), dir.resolve("log"), Duration.ofSeconds(5),
                Duration.ofSeconds(5));
        qmp = FakeQmpServer.start(dir.resolve("run/qmp-libxl-1"));
    }

    @AfterEach
    void stopFakeQemu() {
        qmp.close();
    }
}
