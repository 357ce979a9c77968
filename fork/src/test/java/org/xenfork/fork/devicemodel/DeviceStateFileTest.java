package org.xenfork.fork.devicemodel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.qmp.QmpClient;
import org.xenfork.testfixtures.TestQemu;

/** Saving device state through a real QEMU: all or nothing, mode 0600, even when QEMU dies mid-save. */
class DeviceStateFileTest {
    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    private List<String> files() throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.contains("state")).sorted().toList();
        }
    }

    @Test
    void savesAQevmFileWithMode0600() throws IOException {
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            Path target = dir.resolve("p.state");
            long size = DeviceStateFile.save(c, target, false, T);
            assertThat(size).isEqualTo(Files.size(target)).isGreaterThan(10_000);
            assertThat(DeviceStateFile.check(target)).isEqualTo(size);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(target))).isEqualTo("rw-------");
            assertThat(files()).containsExactly("p.state");
        }
    }

    @Test
    void qemuKilledMidSaveLeavesNoFile() throws Exception {
        try (TestQemu qemu = TestQemu.builder(dir).start()) {
            QmpClient c = QmpClient.connect(qemu.qmpSocket(), T);
            qemu.suspend(); // SIGSTOP: the save below waits on a QEMU that will never answer
            CompletableFuture<Long> save = CompletableFuture.supplyAsync(() -> {
                try {
                    return DeviceStateFile.save(c, dir.resolve("k.state"), false, T);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            Thread.sleep(200);
            assertThat(files()).as("the temporary file exists while QEMU works").hasSize(1);
            qemu.kill();
            assertThatThrownBy(() -> save.get(15, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .hasMessageContaining("xen-save-devices-state");
            assertThat(files()).as("no file, temporary or final").isEmpty();
            c.close();
        }
    }

    @Test
    void checkNamesWhatIsWrong() throws IOException {
        Path short4 = Files.write(dir.resolve("short.state"), new byte[] {0x51, 0x45});
        Path v2 = Files.write(dir.resolve("v2.state"), new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 2});
        assertThatThrownBy(() -> DeviceStateFile.check(short4)).isInstanceOf(ForkRequestException.class)
                .hasMessageContaining("does not start with QEMU's \"QEVM\" magic");
        assertThatThrownBy(() -> DeviceStateFile.check(v2)).hasMessageContaining("is QEVM version 2, not 3");
        assertThatThrownBy(() -> DeviceStateFile.check(dir)).hasMessageContaining("not a regular file");
    }

    @Test
    void saveRefusesAMissingFolderOrAFolderTarget() {
        assertThatThrownBy(() -> DeviceStateFile.save(null, dir.resolve("no/such/x.state"), false, T))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> DeviceStateFile.save(null, dir, false, T))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("it is a folder");
    }
}
