package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.TestQemu;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionTimeoutException;
import org.xenfork.wire.ProtocolViolationException;

/**
 * The client against a real, stock QEMU (Debian's {@code qemu-system-x86}, TCG, no Xen): the greeting,
 * {@code xen-save-devices-state} and its QEVM file, the exact error replies QEMU 7.2.22 gives,
 * events interleaved with replies, loading the saved state into a second QEMU with {@code -incoming fd:0},
 * QEMU killed with a command pending. Skipped loudly without QEMU; failed instead with
 * {@code -Dxenfork.requireQemu=true} (CI).
 */
class RealQemuTest {

    private static final Duration T = Duration.ofSeconds(10);

    @TempDir
    Path dir;

    @BeforeAll
    static void qemuPresent() {
        TestQemu.requireBinary();
    }

    @Test
    void theGreetingCarriesTheVersionQemuReports() throws Exception {
        Process p = new ProcessBuilder(TestQemu.requireBinary().toString(), "--version").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        // "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
        Matcher m = Pattern.compile("QEMU emulator version (\\d+)\\.(\\d+)\\.(\\d+)(?: \\((.*)\\))?").matcher(out);
        assertThat(m.find()).as("version line in %s", out).isTrue();
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            QmpGreeting g = c.greeting();
            assertThat(g.major()).isEqualTo(Integer.parseInt(m.group(1)));
            assertThat(g.minor()).isEqualTo(Integer.parseInt(m.group(2)));
            assertThat(g.micro()).isEqualTo(Integer.parseInt(m.group(3)));
            assertThat(g.packageName()).isEqualTo(m.group(4) == null ? "" : m.group(4));
            assertThat(g.capabilities()).contains("oob");
            JsonNode v = c.execute("query-version", null, T);
            assertThat(v.path("qemu").path("micro").intValue()).isEqualTo(g.micro());
            assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
        }
    }

    @Test
    void saveDevicesStateWritesAQevmVersion3Stream() throws Exception {
        Path file = dir.resolve("devices.qevm");
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            c.saveDevicesState(file, false, T);
            assertThat(c.queryStatus(T)).as("a save leaves the run state as it was").isEqualTo("prelaunch");
        }
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer b = ByteBuffer.wrap(bytes);
        assertThat(bytes.length).as("a pc machine's device state").isGreaterThan(4096);
        assertThat(b.getInt(0)).as("QEMU_VM_FILE_MAGIC").isEqualTo(0x5145564d);
        assertThat(b.getInt(4)).as("QEMU_VM_FILE_VERSION").isEqualTo(3);
        assertThat(bytes[8]).as("first section is QEMU_VM_SECTION_FULL").isEqualTo((byte) 0x04);
        int idLength = bytes[13] & 0xff;
        assertThat(new String(bytes, 14, idLength, StandardCharsets.US_ASCII)).isEqualTo("timer");
        assertThat(bytes[bytes.length - 1]).as("QEMU_VM_EOF").isEqualTo((byte) 0x00);
        assertThat(bytes[bytes.length - 6]).as("default globals: a section footer before EOF").isEqualTo((byte) 0x7e);
    }

    @Test
    void qemusErrorRepliesBecomeTypedExceptionsWithTheirDesc() throws Exception {
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            QmpErrorException e = error(() -> c.saveDevicesState(Path.of("/nonexistent/dir/x.bin"), false, T));
            assertThat(e.errorClass()).isEqualTo(QmpErrorClass.GenericError);
            assertThat(e.desc()).isEqualTo("Unable to open /nonexistent/dir/x.bin: No such file or directory");
            assertThat(e).hasMessage("QEMU refused xen-save-devices-state: GenericError: Unable to open "
                    + "/nonexistent/dir/x.bin: No such file or directory");

            e = error(() -> c.execute("xen-save-devices-state", null, T));
            assertThat(e.errorClass()).isEqualTo(QmpErrorClass.GenericError);
            assertThat(e.desc()).isEqualTo("Parameter 'filename' is missing");

            ObjectNode extra = QmpClient.arguments();
            extra.put("filename", dir.resolve("x.bin").toString());
            extra.put("bogus", 1);
            e = error(() -> c.execute("xen-save-devices-state", extra, T));
            assertThat(e.desc()).isEqualTo("Parameter 'bogus' is unexpected");

            ObjectNode wrongType = QmpClient.arguments();
            wrongType.put("filename", 42);
            e = error(() -> c.execute("xen-save-devices-state", wrongType, T));
            assertThat(e.desc()).isEqualTo("Invalid parameter type for 'filename', expected: string");

            e = error(() -> c.execute("no-such-command", null, T));
            assertThat(e.errorClass()).isEqualTo(QmpErrorClass.CommandNotFound);
            assertThat(e.desc()).isEqualTo("The command no-such-command has not been found");

            e = error(() -> c.execute("qmp_capabilities", null, T));
            assertThat(e.errorClass()).isEqualTo(QmpErrorClass.CommandNotFound);
            assertThat(e.desc()).isEqualTo("Capabilities negotiation is already complete, command ignored");

            ObjectNode badDevice = QmpClient.arguments();
            badDevice.put("id", "no-such-device");
            e = error(() -> c.execute("device_del", badDevice, T));
            assertThat(e.errorClass()).isEqualTo(QmpErrorClass.DeviceNotFound);
            assertThat(e.desc()).isEqualTo("Device 'no-such-device' not found");

            assertThat(c.queryStatus(T)).as("the connection survives every refusal").isEqualTo("prelaunch");
            assertThat(Files.exists(dir.resolve("x.bin"))).as("refused before any side effect").isFalse();
        }
    }

    private interface Call {
        void run() throws Exception;
    }

    private static QmpErrorException error(Call call) {
        Throwable t = catchThrowable(call::run);
        assertThat(t).isInstanceOf(QmpErrorException.class);
        return (QmpErrorException) t;
    }

    @Test
    void eventsFromContStopLoopsNeverConfuseReplies() throws Exception {
        int rounds = 30;
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
            c.addEventListener(events::add);
            AtomicBoolean done = new AtomicBoolean();
            // A second thread issues other commands all the while; each must get its own kind of reply.
            CompletableFuture<Integer> other = CompletableFuture.supplyAsync(() -> {
                int n = 0;
                try {
                    while (!done.get()) {
                        JsonNode v = c.execute("query-version", null, T);
                        assertThat(v.has("qemu")).as("query-version reply, got %s", v).isTrue();
                        String s = c.queryStatus(T);
                        assertThat(s).isIn("running", "paused", "prelaunch");
                        n++;
                    }
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
                return n;
            });
            try {
                for (int i = 0; i < rounds; i++) {
                    c.cont(T);
                    assertThat(c.queryStatus(T)).isEqualTo("running");
                    JsonNode status = c.execute("query-status", null, T);
                    assertThat(status.get("running").booleanValue()).isTrue();
                    c.stop(T);
                    assertThat(c.queryStatus(T)).isEqualTo("paused");
                }
            } finally {
                done.set(true);
            }
            assertThat(other.get(30, TimeUnit.SECONDS)).isPositive();
            List<String> names = new ArrayList<>();
            for (int i = 0; i < 2 * rounds; i++) {
                QmpEvent e = events.poll(10, TimeUnit.SECONDS);
                assertThat(e).as("event %d of %d", i, 2 * rounds).isNotNull();
                names.add(e.name());
            }
            for (int i = 0; i < names.size(); i++) {
                assertThat(names.get(i)).as("event %d", i).isEqualTo(i % 2 == 0 ? "RESUME" : "STOP");
            }
            assertThat(events.poll(100, TimeUnit.MILLISECONDS)).isNull();
        }
    }

    @Test
    void aSaveOfARunningVmStopsAndResumesIt() throws Exception {
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            c.addEventListener(e -> events.add(e.name()));
            c.cont(T);
            assertThat(events.poll(10, TimeUnit.SECONDS)).isEqualTo("RESUME");
            c.saveDevicesState(dir.resolve("running.qevm"), false, T);
            assertThat(events.poll(10, TimeUnit.SECONDS)).isEqualTo("STOP");
            assertThat(events.poll(10, TimeUnit.SECONDS)).isEqualTo("RESUME");
            assertThat(c.queryStatus(T)).isEqualTo("running");
            assertThat(Files.size(dir.resolve("running.qevm"))).isGreaterThan(4096);
        }
    }

    @Test
    void aSecondQemuLoadsTheSavedStateFromFd0() throws Exception {
        Path file = dir.resolve("xen-like.qevm");
        try (TestQemu parent = TestQemu.builder(dir).name("parent").xenLike().start();
             QmpClient c = QmpClient.connect(parent.qmpSocket(), T)) {
            c.saveDevicesState(file, false, T);
        }
        byte[] bytes = Files.readAllBytes(file);
        assertThat(ByteBuffer.wrap(bytes).getInt(0)).isEqualTo(0x5145564d);
        assertThat(bytes[bytes.length - 6]).as("Xen-like globals: no footers").isNotEqualTo((byte) 0x7e);

        try (TestQemu child = TestQemu.builder(dir).name("child").xenLike().incoming(file).start();
             QmpClient c = QmpClient.connect(child.qmpSocket(), T)) {
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            c.addEventListener(e -> events.add(e.name()));
            String status = awaitStatusOtherThan(c, "inmigrate", T);
            assertThat(status).as("loaded under -S; log: %s", child.log()).isEqualTo("paused");
            assertThat(c.execute("query-migrate", null, T).path("status").textValue()).isEqualTo("completed");
            c.cont(T);
            assertThat(c.queryStatus(T)).isEqualTo("running");
            assertThat(events.poll(10, TimeUnit.SECONDS)).isEqualTo("RESUME");
            assertThat(child.isAlive()).isTrue();
        }
    }

    @Test
    void theLoaderRefusesAStreamSavedWithOtherGlobals() throws Exception {
        // The control for the test above: the loader really parses what it is given on fd 0.
        Path file = dir.resolve("xen-like.qevm");
        try (TestQemu parent = TestQemu.builder(dir).name("parent").xenLike().start();
             QmpClient c = QmpClient.connect(parent.qmpSocket(), T)) {
            c.saveDevicesState(file, false, T);
        }
        try (TestQemu child = TestQemu.builder(dir).name("stock").incoming(file).start()) {
            OptionalInt rc = child.awaitExit(Duration.ofSeconds(20));
            assertThat(rc).as("QEMU exits; log: %s", child.log()).isPresent();
            assertThat(rc.getAsInt()).isEqualTo(1);
            assertThat(child.log()).contains("Configuration section missing");
        }
    }

    private static String awaitStatusOtherThan(QmpClient c, String transient_, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        String s = c.queryStatus(T);
        while (s.equals(transient_) && System.nanoTime() < deadline) {
            Thread.sleep(10);
            s = c.queryStatus(T);
        }
        return s;
    }

    @Test
    void qemuKilledWithASavePendingGivesAClosedExceptionAndLeavesNothing() throws Exception {
        assertThat(QmpThreadsTest.awaitNoQmpThreads(QmpThreadsTest.AFTER_LINGER)).isEmpty();
        try (TestQemu qemu = TestQemu.builder(dir).start()) {
            QmpClient c = QmpClient.connect(qemu.qmpSocket(), T);
            BlockingQueue<String> events = new LinkedBlockingQueue<>();
            c.addEventListener(e -> events.add(e.name()));
            qemu.suspend(); // SIGSTOP: the command below reaches the socket and stays unanswered
            CompletableFuture<JsonNode> save = c.executeAsync("xen-save-devices-state", saveArgs(dir.resolve("k.qevm")), T);
            Thread.sleep(500); // written by the event loop by now; a stopped QEMU cannot answer
            assertThat(save).isNotDone();
            qemu.kill(); // SIGKILL
            Throwable e = catchThrowable(() -> save.get(10, TimeUnit.SECONDS));
            assertThat(e).isInstanceOf(ExecutionException.class).cause()
                    .isInstanceOf(ConnectionClosedException.class)
                    .hasMessageStartingWith("QEMU closed the QMP connection on " + qemu.qmpSocket())
                    .hasMessageEndingWith(" while xen-save-devices-state was pending");
            assertThat(c.isOpen()).isFalse();
            assertThatThrownBy(() -> c.queryStatus(T)).isInstanceOf(ConnectionClosedException.class)
                    .hasMessageStartingWith("cannot send query-status: QEMU closed the QMP connection on " + qemu.qmpSocket());
            c.close();
            c.close();
            assertThat(qemu.awaitExit(T)).isPresent();
        }
        assertThat(QmpThreadsTest.awaitNoQmpThreads(QmpThreadsTest.AFTER_LINGER)).as("threads left after close").isEmpty();
    }

    @Test
    void qemuKilledWhileSavesAreRunningFailsTheInFlightOneClearly() throws Exception {
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            c.cont(T);
            Future<?> killer = CompletableFuture.runAsync(() -> {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
                qemu.kill();
            });
            int saves = 0;
            Throwable failure = null;
            try {
                while (saves < 100_000) {
                    c.saveDevicesState(dir.resolve("loop.qevm"), false, T);
                    saves++;
                }
            } catch (IOException e) {
                failure = e;
            }
            killer.get(10, TimeUnit.SECONDS);
            assertThat(saves).as("saves before the kill").isPositive();
            assertThat(failure).isInstanceOf(ConnectionClosedException.class);
            assertThat(failure.getMessage()).matches("(QEMU closed the QMP connection on .* while xen-save-devices-state was pending"
                    + "|cannot send xen-save-devices-state: QEMU closed the QMP connection on .*)");
            assertThat(c.isOpen()).isFalse();
        }
    }

    private static ObjectNode saveArgs(Path file) {
        ObjectNode a = JsonNodeFactory.instance.objectNode();
        a.put("filename", file.toString());
        a.put("live", false);
        return a;
    }

    @Test
    void theLargestReplyFitsTheDefaultBoundAndASmallBoundRefusesIt() throws Exception {
        try (TestQemu qemu = TestQemu.builder(dir).start()) {
            try (QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
                JsonNode schema = c.execute("query-qmp-schema", null, T);
                assertThat(schema.isArray()).isTrue();
                assertThat(schema.toString().length()).as("query-qmp-schema size").isBetween(16 * 1024, 1 << 20);
            }
            try (QmpClient c = QmpClient.connect(qemu.qmpSocket(), T, QmpOptions.DEFAULTS.withMaxMessageBytes(16 * 1024))) {
                assertThatThrownBy(() -> c.execute("query-qmp-schema", null, T))
                        .isInstanceOf(ProtocolViolationException.class)
                        .hasMessageContaining("over the QMP message bound of 16 KiB (16384 bytes)");
                assertThat(c.isOpen()).isFalse();
            }
            // QEMU took the connection's end in its stride: a new client works.
            try (QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
                assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
            }
        }
    }

    @Test
    void aSecondClientGetsNoGreetingWhileTheFirstIsConnected() throws Exception {
        try (TestQemu qemu = TestQemu.builder(dir).start()) {
            QmpClient first = QmpClient.connect(qemu.qmpSocket(), T);
            assertThatThrownBy(() -> QmpClient.connect(qemu.qmpSocket(), Duration.ofMillis(500)))
                    .isInstanceOf(ConnectionTimeoutException.class)
                    .hasMessageContaining("no QMP greeting from " + qemu.qmpSocket() + " within 500 ms — is it a QMP socket?");
            first.close();
            try (QmpClient second = QmpClient.connect(qemu.qmpSocket(), T)) {
                assertThat(second.queryStatus(T)).isEqualTo("prelaunch");
            }
        }
    }

    @Test
    void quitAnswersThenQemuCloses() throws Exception {
        try (TestQemu qemu = TestQemu.builder(dir).start();
             QmpClient c = QmpClient.connect(qemu.qmpSocket(), T)) {
            BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
            c.addEventListener(events::add);
            assertThat(c.execute("quit", null, T).isObject()).isTrue();
            QmpEvent shutdown = events.poll(10, TimeUnit.SECONDS);
            assertThat(shutdown).isNotNull();
            assertThat(shutdown.name()).isEqualTo("SHUTDOWN");
            assertThat(shutdown.data().path("reason").textValue()).isEqualTo("host-qmp-quit");
            assertThat(qemu.awaitExit(T)).hasValue(0);
            assertThatThrownBy(() -> {
                for (int i = 0; i < 100; i++) {
                    c.queryStatus(T);
                    Thread.sleep(20);
                }
            }).isInstanceOf(ConnectionClosedException.class);
        }
    }
}
