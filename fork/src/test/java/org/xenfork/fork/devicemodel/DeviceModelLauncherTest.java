package org.xenfork.fork.devicemodel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.ForkStep;
import org.xenfork.testfixtures.FakeXenstored;
import org.xenfork.xenstore.XenstoreClient;
import org.xenfork.xenstore.XsPermission;

/**
 * The launcher against a fake xenstored and {@link FakeDeviceModel} in QEMU's place:
 * the keys libxl writes, the state on standard input, readiness, and every way a
 * QEMU can fail to come up, each of which must leave no process and no key behind.
 * The real QEMU under real Xen is the rig's job (RigChecks).
 */
class DeviceModelLauncherTest {
    private static final int FORK = 7;

    @TempDir
    Path dir;

    private FakeXenstored xenstored;
    private XenstoreClient xs;
    private Path state;
    private Path report;

    @BeforeEach
    void start() throws IOException {
        xenstored = FakeXenstored.start(dir);
        xs = XenstoreClient.connect(xenstored.socketPath());
        state = dir.resolve("parent.state");
        Files.write(state, new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 4, 0});
        report = dir.resolve("report.txt");
        Files.createDirectories(dir.resolve("run"));
        Files.createDirectories(dir.resolve("log"));
    }

    @AfterEach
    void stop() throws IOException {
        xs.close();
        xenstored.close();
    }

    /** A config whose QEMU is {@link FakeDeviceModel} in {@code mode}. */
    private DeviceModelConfig config(String mode) throws IOException {
        Path script = FakeDeviceModel.script(dir, xenstored.socketPath(), mode, report);
        return DeviceModelConfig.of(XlConfig.parse("name = 'fork-a'\ntype = 'hvm'\nmemory = 64\n"
                + "serial = 'file:" + dir.resolve("log/serial.log") + "'\ndevice_model_override = '" + script + "'\n",
                "t.cfg"), new DeviceModelConfig.Limits(dir.resolve("log"), false));
    }

    private DeviceModelLauncher launcher(Duration start) {
        return new DeviceModelLauncher(xs, new DeviceModelLauncher.Settings(dir.resolve("run"), dir.resolve("log"), start,
                Duration.ofSeconds(5)), n -> { });
    }

    private Map<String, String> reported() throws IOException {
        return Files.readAllLines(report).stream().collect(Collectors.toMap(l -> l.substring(0, l.indexOf('=')),
                l -> l.substring(l.indexOf('=') + 1)));
    }

    @Test
    @SuppressWarnings("try") // secret is never read: it is held open as a descriptor of ours that must not reach QEMU
    void startsQemuAsLibxlDoes() throws Exception {
        DeviceModelLauncher l = launcher(Duration.ofSeconds(60));
        DeviceModel dm;
        try (FileOutputStream secret = new FileOutputStream(dir.resolve("privileged").toFile())) {
            dm = l.launch(FORK, config("ok"), state);
        }
        Map<String, String> r = reported();
        assertThat(dm.pid()).as("setsid execs QEMU in place, so the pid xenstore holds is QEMU's")
                .isEqualTo(Long.parseLong(r.get("pid")));
        assertThat(r.get("stdin")).as("the device state is QEMU's standard input").isEqualTo("5145564d00000003");
        assertThat(r.get("args")).contains("-xen-domid 7 ", "-incoming fd:0 ", "path=" + dir.resolve("run/qmp-libxl-7"));
        assertThat(dm.status()).isEqualTo("running");
        assertThat(dm.qmp()).isEqualTo(dir.resolve("run/qmp-libxl-7"));
        assertThat(xs.read("/local/domain/7/image/device-model-pid")).hasValue(Long.toString(dm.pid()));
        assertThat(xs.read("/libxl/7/dm-version")).hasValue("qemu_xen");
        assertThat(xs.read("/libxl/7/type")).hasValue("hvm");
        assertThat(xs.getPermissions("/local/domain/0/device-model/7")).containsExactly(XsPermission.none(0));
        String fds = Files.readString(dir.resolve("fds-ok"));
        assertThat(fds).as("no descriptor of ours reaches QEMU").doesNotContain("privileged", "xenstored", "socket:");
        assertThat(fds).contains("0 -> " + state);

        assertThat(l.stop(FORK)).isEqualTo("stopped QEMU pid " + dm.pid());
        assertThat(ProcessHandle.of(dm.pid()).map(ProcessHandle::isAlive)).isNotEqualTo(java.util.Optional.of(true));
        assertThat(xs.read("/local/domain/7/image/device-model-pid")).isEmpty();
        assertThat(xs.read("/local/domain/0/device-model/7")).isEmpty();
        assertThat(xs.read("/libxl/7/dm-version")).isEmpty();
        assertThat(dm.qmp()).doesNotExist();
        assertThat(l.stop(FORK)).as("stopping twice is harmless").isEmpty();
    }

    @Test
    void qemuThatExitsIsReportedWithItsLogAndLeavesNothing() throws IOException {
        assertThatThrownBy(() -> launcher(Duration.ofSeconds(60)).launch(FORK, config("exit"), state))
                .isInstanceOfSatisfying(ForkException.class, e -> assertThat(e.step()).isEqualTo(ForkStep.LAUNCH_DM))
                .hasMessageContaining("QEMU exited with status 1 before it was running")
                .hasMessageContaining("load of migration failed: Invalid argument")
                .hasMessageContaining("its xenstore keys removed");
        assertNothingLeft();
    }

    @Test
    void qemuThatNeverRunsIsKilledAtTheTimeout() throws IOException {
        assertThatThrownBy(() -> launcher(Duration.ofSeconds(3)).launch(FORK, config("silent"), state))
                .isInstanceOf(ForkException.class)
                .hasMessageContaining("QEMU did not write running to /local/domain/0/device-model/7/state within 3 s")
                .hasMessageContaining("killed");
        assertNothingLeft();
    }

    private void assertNothingLeft() throws IOException {
        long pid = Long.parseLong(reported().get("pid"));
        assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive)).isNotEqualTo(java.util.Optional.of(true));
        for (String k : List.of("/local/domain/7/image/device-model-pid", "/local/domain/0/device-model/7",
                "/libxl/7/dm-version", "/libxl/7/type")) {
            assertThat(xs.read(k)).as(k).isEmpty();
        }
        assertThat(dir.resolve("run/qmp-libxl-7")).doesNotExist();
    }

    @Test
    void refusalsChangeNothing() throws IOException {
        DeviceModelLauncher l = launcher(Duration.ofSeconds(60));
        DeviceModelConfig ok = config("ok");
        Files.write(dir.resolve("junk.state"), new byte[] {1, 2, 3});
        assertThatThrownBy(() -> l.launch(FORK, ok, dir.resolve("junk.state")))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("QEVM");
        assertThatThrownBy(() -> l.launch(FORK, ok, dir.resolve("missing.state")))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("not a regular file");

        // a config cannot name a missing binary (DeviceModelConfigTest); the default one can be missing
        DeviceModelConfig noBinary = new DeviceModelConfig("f", 64, 1, 1, List.of(), List.of(), "cd", false, true,
                dir.resolve("no-such-qemu"), List.of());
        assertThatThrownBy(() -> l.launch(FORK, noBinary, state))
                .isInstanceOf(DeviceModelMissingException.class).hasMessageContaining("qemu-system-xen");

        Files.createFile(dir.resolve("run/qmp-libxl-7"));
        assertThatThrownBy(() -> l.launch(FORK, ok, state))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("another QEMU serves domain 7");
        Files.delete(dir.resolve("run/qmp-libxl-7"));

        xs.write("/local/domain/7/image/device-model-pid", "4242");
        assertThatThrownBy(() -> l.launch(FORK, ok, state))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("already has a device model (pid 4242");
        xs.rm("/local/domain/7/image/device-model-pid");

        assertThat(xs.read("/local/domain/0/device-model/7")).isEmpty();
        assertThat(xs.read("/libxl/7")).isEmpty();
        assertThat(report).doesNotExist();
    }

    @Test
    void stopSignalsOnlyAQemuOfThatDomain() throws IOException {
        long self = ProcessHandle.current().pid();
        xs.write("/local/domain/7/image/device-model-pid", Long.toString(self));
        assertThat(launcher(Duration.ofSeconds(1)).stop(FORK)).as("this JVM is no QEMU of domain 7").isEmpty();
        assertThat(xs.read("/local/domain/7/image/device-model-pid")).isEmpty();
    }
}
