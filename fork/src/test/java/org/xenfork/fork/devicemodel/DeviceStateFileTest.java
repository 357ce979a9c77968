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
import org.xenfork.fork.OutputFile;
import org.xenfork.fork.OutputPathException;
import org.xenfork.qmp.QmpClient;
import org.xenfork.testfixtures.FakeQmpServer;
import org.xenfork.testfixtures.TestQemu;
import org.xenfork.wire.ConnectionTimeoutException;

/** Saving device state through a real QEMU: all or nothing, mode 0600, even when QEMU dies mid-save; and a late-writing fake QMP peer. */
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
    void aFolderOthersCanWriteIsRefusedBeforeQemuIsAsked() throws IOException, InterruptedException {
        // Once the private folder is removed (a timeout, a signal), whoever can write the target's folder could
        // make one of the same name holding a link; a root QEMU writing late would follow it.
        Path shared = Files.createDirectory(dir.resolve("shared"));
        // mode 1777, as /tmp: the sticky bit keeps others from renaming our entries, not from adding their own
        Process chmod = new ProcessBuilder("chmod", "1777", shared.toString()).inheritIO().start();
        assertThat(chmod.waitFor(10, TimeUnit.SECONDS) && chmod.exitValue() == 0).as("chmod 1777 " + shared).isTrue();
        assertThatThrownBy(() -> DeviceStateFile.target(shared.resolve("p.state")))
                .isInstanceOf(OutputPathException.class)
                .hasMessageStartingWith("cannot save to " + shared.resolve("p.state") + ": QEMU writes the device state "
                        + "itself, as root")
                .hasMessageContaining(shared + " is writable by everyone");
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwx------"));
        assertThat(DeviceStateFile.target(shared.resolve("p.state")).target()).isEqualTo(shared.resolve("p.state"));
    }

    @Test
    void savesAQevmFileWithMode0600() throws IOException {
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            Path target = dir.resolve("p.state");
            long size = DeviceStateFile.save(c, DeviceStateFile.target(target), false, T);
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
                    return DeviceStateFile.save(c, DeviceStateFile.target(dir.resolve("k.state")), false, T);
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            Thread.sleep(200);
            assertThat(files()).as("the private folder exists while QEMU works").hasSize(1);
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
        assertThatThrownBy(() -> OutputFile.at(dir.resolve("no/such/x.state")))
                .isInstanceOf(OutputPathException.class).hasMessageContaining("no folder " + dir.resolve("no/such"));
        assertThatThrownBy(() -> OutputFile.at(dir)).isInstanceOf(OutputPathException.class)
                .hasMessageContaining("it is a folder");
    }

    /**
     * Issue 16 item 6: a QMP peer that answers after the timeout, and only then writes the file
     * it was given, left a 0644 {@code .FILE.N.part} after "no file was left". Now the path it
     * was given is in a private folder that is gone by then: its write finds no folder.
     */
    @Test
    void aPeerThatWritesAfterTheTimeoutLeavesNoFile() throws Exception {
        try (FakeQmpServer fake = FakeQmpServer.start(dir.resolve("q.sock"))) {
            fake.inject("xen-save-devices-state", new FakeQmpServer.Fault.Delay(Duration.ofSeconds(1)));
            Path target = dir.resolve("late.state");
            try (QmpClient c = QmpClient.connect(fake.socket(), T)) {
                assertThatThrownBy(() -> DeviceStateFile.save(c, DeviceStateFile.target(target), false, Duration.ofMillis(200)))
                        .isInstanceOf(ConnectionTimeoutException.class);
                assertThat(files()).as("nothing left when the save gives up").isEmpty();
            }
            // The fake wakes after its delay, writes where it was told, then fails to reply to the closed
            // connection and closes its end: once it has, its write has happened.
            assertThat(fake.awaitNoOpenConnection(T)).isTrue();
            assertThat(fake.receivedCommands()).contains("xen-save-devices-state");
            assertThat(files()).as("nothing left after the late write either").isEmpty();
            assertThat(target).doesNotExist();
        }
    }
}
