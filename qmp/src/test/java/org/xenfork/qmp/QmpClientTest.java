package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.FakeQmpServer;
import org.xenfork.testfixtures.FakeQmpServer.Fault;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionTimeoutException;
import org.xenfork.wire.ProtocolViolationException;
import org.xenfork.wire.Subscription;

/** The client against {@link FakeQmpServer}: the protocol as QEMU speaks it, and every way it can go wrong. */
class QmpClientTest {

    private static final Duration T = Duration.ofSeconds(5);

    @TempDir
    Path dir;
    private FakeQmpServer fake;
    private final List<QmpClient> clients = new ArrayList<>();

    @BeforeEach
    void start() throws IOException {
        fake = FakeQmpServer.start(dir.resolve("qmp.sock"));
    }

    @AfterEach
    void stop() {
        clients.forEach(QmpClient::close);
        fake.close();
    }

    private QmpClient connect() throws IOException {
        return connect(QmpOptions.DEFAULTS);
    }

    private QmpClient connect(QmpOptions options) throws IOException {
        QmpClient c = QmpClient.connect(fake.socket(), T, options);
        clients.add(c);
        return c;
    }

    private static ObjectNode n(int value) {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("n", value);
        return o;
    }

    // ---- greeting, negotiation, ids ----

    @Test
    void connectReadsTheGreetingAndNegotiatesBeforeAnythingElse() throws Exception {
        QmpClient c = connect();
        assertThat(c.greeting()).isEqualTo(new QmpGreeting(7, 2, 22, "Debian 1:7.2+dfsg-7+deb12u18+b3", List.of("oob")));
        assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
        c.stop(T);
        c.cont(T);
        assertThat(c.queryStatus(T)).isEqualTo("running");
        List<FakeQmpServer.Received> got = fake.received();
        assertThat(got).extracting(FakeQmpServer.Received::command)
                .containsExactly("qmp_capabilities", "query-status", "stop", "cont", "query-status");
        assertThat(got.get(0).raw().has("arguments")).as("qmp_capabilities enables nothing (no oob)").isFalse();
        Set<Long> ids = new HashSet<>();
        long last = 0;
        for (FakeQmpServer.Received r : got) {
            assertThat(r.id().isIntegralNumber()).isTrue();
            assertThat(r.id().longValue()).isGreaterThan(last);
            last = r.id().longValue();
            assertThat(ids.add(last)).isTrue();
        }
        assertThat(c.isOpen()).isTrue();
        assertThat(c.toString()).contains("7.2.22");
    }

    @Test
    void concurrentCallersEachGetTheirOwnReply() throws Exception {
        QmpClient c = connect();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int thread = t;
                jobs.add(pool.submit(() -> {
                    for (int i = 0; i < 50; i++) {
                        int value = thread * 1000 + i;
                        assertThat(c.execute("x-echo", n(value), T).get("n").intValue()).isEqualTo(value);
                    }
                    return null;
                }));
            }
            for (Future<?> j : jobs) {
                j.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        Set<Long> ids = new HashSet<>();
        for (FakeQmpServer.Received r : fake.received()) {
            assertThat(ids.add(r.id().longValue())).as("id %s unique", r.id()).isTrue();
        }
        assertThat(ids).hasSize(1 + 8 * 50);
    }

    @Test
    void asyncVariantCompletesWithTheReturnValue() throws Exception {
        QmpClient c = connect();
        CompletableFuture<JsonNode> a = c.executeAsync("x-echo", n(1), T);
        CompletableFuture<JsonNode> b = c.executeAsync("x-echo", n(2), T);
        assertThat(b.get(5, TimeUnit.SECONDS).get("n").intValue()).isEqualTo(2);
        assertThat(a.get(5, TimeUnit.SECONDS).get("n").intValue()).isEqualTo(1);
        assertThat(c.executeAsync("query-status", null, T).get(5, TimeUnit.SECONDS).get("status").textValue())
                .isEqualTo("prelaunch");
    }

    @Test
    void helpersSendTheRightArguments() throws Exception {
        QmpClient c = connect();
        Path out = dir.resolve("state.bin");
        c.saveDevicesState(out, false, T);
        FakeQmpServer.Received save = fake.received().get(1);
        assertThat(save.command()).isEqualTo("xen-save-devices-state");
        assertThat(save.arguments().get("filename").textValue()).isEqualTo(out.toAbsolutePath().toString());
        assertThat(save.arguments().get("live").booleanValue()).isFalse();
        assertThat(Files.readAllBytes(out)).startsWith(0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3);
        c.saveDevicesState(out, true, T);
        assertThat(fake.received().get(2).arguments().get("live").booleanValue()).isTrue();
    }

    // ---- connect failures ----

    @Test
    void noGreetingTimesOutNamingTheSocketAndWhatWasMissing() throws Exception {
        fake.greeting(null);
        long t0 = System.nanoTime();
        Throwable e = catchThrowable(() -> QmpClient.connect(fake.socket(), Duration.ofMillis(300)));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(e).isInstanceOf(ConnectionTimeoutException.class)
                .hasMessage("no QMP greeting from " + fake.socket() + " within 300 ms — is it a QMP socket? "
                        + "(QEMU serves one QMP client at a time: is another client connected?)");
        assertThat(((ConnectionTimeoutException) e).timeout()).isEqualTo(Duration.ofMillis(300));
        assertThat(ms).isBetween(250L, 3000L);
        assertThat(fake.awaitNoOpenConnection(T)).as("the failed connect closed its socket").isTrue();
    }

    @Test
    void garbageInsteadOfAGreetingIsAProtocolError() {
        fake.greetingBytes("\u0000\u00ffSSH-2.0-OpenSSH_9.2\r\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> QmpClient.connect(fake.socket(), T))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("no QMP greeting from " + fake.socket())
                .hasMessageContaining("not JSON")
                .hasMessageContaining("SSH-2.0");
    }

    @Test
    void aReplyBeforeTheGreetingIsAProtocolError() {
        fake.greeting("{\"return\": {}}");
        assertThatThrownBy(() -> QmpClient.connect(fake.socket(), T))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("before its QMP greeting");
    }

    @Test
    void theServerHangingUpBeforeTheGreetingIsSaid() throws Exception {
        fake.greeting(null);
        CountDownLatch connected = new CountDownLatch(1);
        Thread hangUp = new Thread(() -> {
            try {
                while (fake.connectionCount() == 0) {
                    Thread.sleep(2);
                }
                fake.disconnectAll();
            } catch (InterruptedException ignored) {
                // test over
            }
            connected.countDown();
        });
        hangUp.start();
        assertThatThrownBy(() -> QmpClient.connect(fake.socket(), T))
                .isInstanceOf(ConnectionClosedException.class)
                .hasMessageContaining(fake.socket() + " closed the connection before sending a QMP greeting");
        connected.await(5, TimeUnit.SECONDS);
    }

    @Test
    void capabilitiesRefusedOrUnansweredFailTheConnect() throws Exception {
        fake.inject("qmp_capabilities", new Fault.ErrorReply("GenericError", "no thanks"));
        assertThatThrownBy(() -> QmpClient.connect(fake.socket(), T))
                .isInstanceOf(QmpErrorException.class)
                .hasMessage("QEMU refused qmp_capabilities: GenericError: no thanks");
        fake.inject("qmp_capabilities", new Fault.NoReply());
        assertThatThrownBy(() -> QmpClient.connect(fake.socket(), Duration.ofMillis(300)))
                .isInstanceOf(ConnectionTimeoutException.class)
                .hasMessage("QEMU on " + fake.socket() + " sent its greeting but did not answer qmp_capabilities within 300 ms");
        fake.inject("qmp_capabilities", new Fault.Disconnect());
        assertThatThrownBy(() -> QmpClient.connect(fake.socket(), T))
                .isInstanceOf(ConnectionClosedException.class)
                .hasMessage("QEMU closed the QMP connection on " + fake.socket() + " while qmp_capabilities was pending");
        assertThat(fake.awaitNoOpenConnection(T)).isTrue();
    }

    @Test
    void theSocketPathIsCheckedFirst() throws Exception {
        Path missing = dir.resolve("nope.sock");
        assertThatThrownBy(() -> QmpClient.connect(missing, T))
                .isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining(missing.toString())
                .hasMessageContaining("is QEMU running with -qmp unix:");
        Path file = Files.writeString(dir.resolve("plain"), "x");
        assertThatThrownBy(() -> QmpClient.connect(file, T))
                .isInstanceOf(QmpSocketPathException.class)
                .hasMessage(file + " is not a Unix socket (it is a regular file), so it cannot be a QMP socket");
        assertThatThrownBy(() -> QmpClient.connect(dir, T)).isInstanceOf(QmpSocketPathException.class)
                .hasMessageContaining("it is a folder");
        Path longPath = dir.resolve("x".repeat(120));
        assertThatThrownBy(() -> QmpClient.connect(longPath, T)).isInstanceOf(QmpSocketPathException.class)
                .hasMessageContaining("a Unix socket address holds at most 107");
        Path stale = dir.resolve("stale.sock");
        ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        s.bind(UnixDomainSocketAddress.of(stale));
        s.close(); // the file stays, nobody listens: a dead QEMU's socket
        assertThatThrownBy(() -> QmpClient.connect(stale, T))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cannot connect to the QMP socket " + stale)
                .hasMessageContaining("is QEMU still running?");
        assertThatThrownBy(() -> QmpClient.connect(fake.socket(), Duration.ZERO)).isInstanceOf(IllegalArgumentException.class);
    }

    // ---- replies ----

    @Test
    void aReplySplitAcrossManyWritesWithPausesIsOneReply() throws Exception {
        QmpClient c = connect();
        ObjectNode big = JsonNodeFactory.instance.objectNode();
        big.put("text", "é€ and some more text ".repeat(20));
        fake.inject("x-echo", new Fault.SplitReply(7, Duration.ofMillis(3)));
        assertThat(c.execute("x-echo", big, T)).isEqualTo(big);
        fake.inject("query-status", new Fault.SplitReply(1, Duration.ofMillis(1)));
        assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
    }

    @Test
    void slowReplyTimesOutAndItsLateReplyIsNotTakenForTheNextCommands() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.Delay(Duration.ofMillis(1500)));
        long t0 = System.nanoTime();
        Throwable e = catchThrowable(() -> c.execute("x-echo", n(1), Duration.ofMillis(150)));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(e).isInstanceOf(ConnectionTimeoutException.class)
                .hasMessage("no reply to x-echo from QEMU on " + fake.socket()
                        + " within 150 ms (QEMU may still carry it out; a late reply will be dropped)");
        assertThat(((ConnectionTimeoutException) e).operation()).isEqualTo("x-echo");
        assertThat(((ConnectionTimeoutException) e).timeout()).isEqualTo(Duration.ofMillis(150));
        assertThat(ms).isBetween(140L, 1400L);
        // The fake answers in order: {"n":1} (late) comes first, then the reply to this one.
        assertThat(c.execute("x-echo", n(2), T).get("n").intValue()).isEqualTo(2);
        assertThat(c.execute("x-echo", n(3), T).get("n").intValue()).isEqualTo(3);
        assertThat(c.isOpen()).isTrue();
    }

    @Test
    void lateRepliesAfterSeveralTimeoutsAreAllDropped() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.Delay(Duration.ofMillis(1200)));
        CompletableFuture<JsonNode> a = c.executeAsync("x-echo", n(1), Duration.ofMillis(100));
        CompletableFuture<JsonNode> b = c.executeAsync("x-echo", n(2), Duration.ofMillis(100));
        assertThatThrownBy(() -> a.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(ConnectionTimeoutException.class);
        assertThatThrownBy(() -> b.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(ConnectionTimeoutException.class);
        assertThat(c.execute("x-echo", n(3), T).get("n").intValue()).isEqualTo(3);
    }

    @Test
    void qmpErrorsMapToTheirClassesAndKeepTheConnection() throws Exception {
        QmpClient c = connect();
        for (QmpErrorClass cls : QmpErrorClass.values()) {
            String wire = cls == QmpErrorClass.UNKNOWN ? "SomethingNew" : cls.name();
            fake.inject("x-echo", new Fault.ErrorReply(wire, "desc of " + wire));
            Throwable e = catchThrowable(() -> c.execute("x-echo", n(1), T));
            assertThat(e).isInstanceOf(QmpErrorException.class)
                    .hasMessage("QEMU refused x-echo: " + wire + ": desc of " + wire);
            QmpErrorException q = (QmpErrorException) e;
            assertThat(q.errorClass()).isEqualTo(cls);
            assertThat(q.rawClass()).isEqualTo(wire);
            assertThat(q.desc()).isEqualTo("desc of " + wire);
            assertThat(q.command()).isEqualTo("x-echo");
        }
        assertThatThrownBy(() -> c.saveDevicesState(Path.of("/nonexistent/dir/x.bin"), false, T))
                .isInstanceOf(QmpErrorException.class)
                .hasMessage("QEMU refused xen-save-devices-state: GenericError: Unable to open /nonexistent/dir/x.bin: "
                        + "No such file or directory");
        assertThatThrownBy(() -> c.execute("no-such-command", null, T))
                .isInstanceOf(QmpErrorException.class)
                .extracting(x -> ((QmpErrorException) x).errorClass()).isEqualTo(QmpErrorClass.CommandNotFound);
        assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
        assertThat(c.isOpen()).isTrue();
    }

    // ---- protocol errors and disconnects ----

    @Test
    void garbageInsteadOfAReplyFailsTheCommandAndClosesTheConnection() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.Garbage("}} this is not json\r\n".getBytes(StandardCharsets.US_ASCII)));
        assertThatThrownBy(() -> c.execute("x-echo", n(1), T))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageStartingWith("x-echo failed: QMP protocol error on " + fake.socket() + ": QEMU sent a line that is not JSON")
                .hasMessageContaining("}} this is not json");
        assertThat(c.isOpen()).isFalse();
        assertThatThrownBy(() -> c.queryStatus(T))
                .isInstanceOf(ConnectionClosedException.class)
                .hasMessageStartingWith("cannot send query-status: QMP protocol error on " + fake.socket())
                .cause().isInstanceOf(ProtocolViolationException.class);
        assertThat(fake.awaitNoOpenConnection(T)).isTrue();
    }

    @Test
    void disconnectMidCommandIsAClosedExceptionNamingTheCommand() throws Exception {
        QmpClient c = connect();
        fake.inject("xen-save-devices-state", new Fault.Disconnect());
        assertThatThrownBy(() -> c.saveDevicesState(dir.resolve("s.bin"), false, T))
                .isInstanceOf(ConnectionClosedException.class)
                .hasMessage("QEMU closed the QMP connection on " + fake.socket() + " while xen-save-devices-state was pending");
        assertThat(c.isOpen()).isFalse();
        assertThatThrownBy(() -> c.queryStatus(T))
                .isInstanceOf(ConnectionClosedException.class)
                .hasMessage("cannot send query-status: QEMU closed the QMP connection on " + fake.socket());
        c.close();
        c.close();
    }

    @Test
    void aReplyToAnIdNeverSentIsAProtocolError() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.StrayReplyBefore());
        assertThatThrownBy(() -> c.execute("x-echo", n(1), T))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("QEMU sent a reply with id 987654321, which matches no command sent");
        assertThat(c.isOpen()).isFalse();
    }

    @Test
    void aReplyWithoutAnIdIsAProtocolErrorQuotingIt() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.RawReply("{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, expecting value\"}}"));
        assertThatThrownBy(() -> c.execute("x-echo", n(1), T))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("QEMU sent a reply without an id: error GenericError: JSON parse error, expecting value");
    }

    @Test
    void aMessageOverTheBoundIsRefusedNamingTheBound() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.Oversized(1 << 20)); // exactly the bound: fine
        assertThat(c.execute("x-echo", n(1), Duration.ofSeconds(20)).get("n").intValue()).isEqualTo(1);
        fake.inject("x-echo", new Fault.Oversized((1 << 20) + 1));
        assertThatThrownBy(() -> c.execute("x-echo", n(2), Duration.ofSeconds(20)))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("over the QMP message bound of 1 MiB (1048576 bytes) (QmpOptions.maxMessageBytes)");
        assertThat(c.isOpen()).isFalse();
    }

    @Test
    void theBoundIsConfigurableBothWays() throws Exception {
        QmpClient c = connect(QmpOptions.DEFAULTS.withMaxMessageBytes(4096));
        fake.inject("x-echo", new Fault.Oversized(4096));
        assertThat(c.execute("x-echo", n(1), T).get("n").intValue()).isEqualTo(1);
        ObjectNode huge = JsonNodeFactory.instance.objectNode();
        huge.put("s", "q".repeat(5000));
        assertThatThrownBy(() -> c.execute("x-echo", huge, T))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("over the QMP message bound of 4 KiB (4096 bytes)");
        fake.inject("x-echo", new Fault.Oversized(4097));
        assertThatThrownBy(() -> c.execute("x-echo", n(2), T))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("4 KiB (4096 bytes)");
    }

    @Test
    void commandNamesAndTimeoutsAreChecked() throws Exception {
        QmpClient c = connect();
        assertThatThrownBy(() -> c.execute("query-status\",\"x\":\"", null, T)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.execute("", null, T)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.execute("query-status", null, Duration.ofMillis(-1))).isInstanceOf(IllegalArgumentException.class);
        assertThat(fake.receivedCommands()).containsExactly("qmp_capabilities");
        Duration forever = Duration.ofSeconds(Long.MAX_VALUE);
        assertThat(c.queryStatus(forever)).as("a huge timeout saturates instead of overflowing").isEqualTo("prelaunch");
        try (QmpClient other = QmpClient.connect(fake.socket(), forever)) {
            assertThat(other.queryStatus(forever)).isEqualTo("prelaunch");
        }
    }

    @Test
    void commandsThatNeverGetRepliesAreBoundedByMaxInFlight() throws Exception {
        QmpClient c = connect(QmpOptions.DEFAULTS.withMaxInFlight(2));
        fake.inject("x-echo", new Fault.NoReply());
        fake.inject("x-echo", new Fault.NoReply());
        assertThatThrownBy(() -> c.execute("x-echo", n(1), Duration.ofMillis(100))).isInstanceOf(ConnectionTimeoutException.class);
        assertThatThrownBy(() -> c.execute("x-echo", n(2), Duration.ofMillis(100))).isInstanceOf(ConnectionTimeoutException.class);
        assertThatThrownBy(() -> c.execute("x-echo", n(3), T))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("2 QMP commands already await replies (QmpOptions.maxInFlight = 2)");
    }

    // ---- events ----

    @Test
    void eventsBeforeAndBetweenRepliesGoToListenersInOrderAndNeverToCommands() throws Exception {
        QmpClient c = connect();
        BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
        AtomicReference<String> thread = new AtomicReference<>();
        c.addEventListener(e -> {
            thread.set(Thread.currentThread().getName());
            events.add(e);
        });
        ObjectNode data = JsonNodeFactory.instance.objectNode();
        data.put("k", "v");
        fake.inject("query-status", new Fault.EventsBefore(List.of(FakeQmpServer.event("E1", data), FakeQmpServer.event("E2", null))));
        assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
        fake.sendEvent("E3", null);
        fake.inject("x-echo", new Fault.EventCarryingId("SNEAKY"));
        assertThat(c.execute("x-echo", n(42), T).get("n").intValue()).isEqualTo(42);
        c.cont(T);
        fake.inject("query-status", new Fault.EventsAfter(List.of(FakeQmpServer.event("E4", null))));
        assertThat(c.queryStatus(T)).isEqualTo("running");
        c.stop(T);
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            QmpEvent e = events.poll(5, TimeUnit.SECONDS);
            assertThat(e).as("event %d", i).isNotNull();
            names.add(e.name());
            if (e.name().equals("E1")) {
                assertThat(e.data().get("k").textValue()).isEqualTo("v");
            }
            assertThat(e.timestamp()).isNotNull();
        }
        assertThat(names).containsExactly("E1", "E2", "E3", "SNEAKY", "RESUME", "E4", "STOP");
        assertThat(thread.get()).startsWith("xenfork-qmp-events ");
        assertThat(events.poll(50, TimeUnit.MILLISECONDS)).isNull();
    }

    /** Issue 16, item 7: an event timestamp out of range ended the session with DateTimeException. */
    @Test
    void anEventWhoseTimestampIsOutOfRangeIsDeliveredWithoutOneAndTheSessionGoesOn() throws Exception {
        QmpClient c = connect();
        BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
        c.addEventListener(events::add);
        ObjectNode far = FakeQmpServer.event("RESUME", null);
        ((ObjectNode) far.get("timestamp")).put("seconds", Long.MAX_VALUE).put("microseconds", 0);
        fake.inject("query-status", new Fault.EventsBefore(List.of(far, FakeQmpServer.event("STOP", null))));
        assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
        QmpEvent resume = events.poll(5, TimeUnit.SECONDS);
        assertThat(resume).isNotNull();
        assertThat(resume.name()).isEqualTo("RESUME");
        assertThat(resume.timestamp()).isNull();
        QmpEvent stop = events.poll(5, TimeUnit.SECONDS);
        assertThat(stop.name()).isEqualTo("STOP");
        assertThat(stop.timestamp()).isNotNull();
        assertThat(c.isOpen()).isTrue();
        assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
    }

    /**
     * Found by QmpRepliesFuzzTest: the id of a reply that matched no command went into the message as Jackson
     * prints it, a lone surrogate (or a megabyte of id) included.
     */
    @Test
    void aReplyWithAForeignIdIsQuotedEscapedAndShort() throws Exception {
        QmpClient c = connect();
        fake.inject("query-status", new Fault.RawReply("{\"return\": [{}], \"id\": \"é\\\\é-\\udfff\"}"));
        assertThatThrownBy(() -> c.queryStatus(T))
                .isInstanceOf(ProtocolViolationException.class)
                .hasMessageEndingWith("QEMU sent a reply with id \"\\xe9\\\\\\xe9-\\uDFFF\", which matches no command sent: "
                        + "return [{}]");
        QmpClient d = connect();
        fake.inject("query-status", new Fault.RawReply("{\"return\": {}, \"id\": \"" + "i".repeat(500_000) + "\"}"));
        Throwable e = catchThrowable(() -> d.queryStatus(T));
        assertThat(e).isInstanceOf(ProtocolViolationException.class)
                .hasMessageContaining("QEMU sent a reply with id \"" + "i".repeat(199) + "… (500002 characters), which matches no command sent");
        assertThat(e.getMessage()).hasSizeLessThan(1000);
    }

    @Test
    void manyEventsArriveAllAndInOrder() throws Exception {
        QmpClient c = connect(QmpOptions.DEFAULTS.withEventQueueCapacity(10_000));
        BlockingQueue<QmpEvent> events = new LinkedBlockingQueue<>();
        c.addEventListener(events::add);
        for (int i = 0; i < 2000; i++) {
            ObjectNode d = JsonNodeFactory.instance.objectNode();
            d.put("seq", i);
            fake.sendEvent("TICK", d);
            if (i % 100 == 0) {
                assertThat(c.execute("x-echo", n(i), T).get("n").intValue()).isEqualTo(i);
            }
        }
        for (int i = 0; i < 2000; i++) {
            QmpEvent e = events.poll(5, TimeUnit.SECONDS);
            assertThat(e).isNotNull();
            assertThat(e.data().get("seq").intValue()).isEqualTo(i);
        }
    }

    @Test
    void aThrowingListenerDoesNotStopDeliveryAndUnsubscribingDoes() throws Exception {
        QmpClient c = connect();
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        c.addEventListener(e -> {
            throw new IllegalStateException("listener bug on " + e.name());
        });
        Subscription sub = c.addEventListener(e -> seen.add(e.name()));
        fake.sendEvent("A", null);
        fake.sendEvent("B", null);
        assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("A");
        assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("B");
        sub.close();
        sub.close();
        fake.sendEvent("C", null);
        c.queryStatus(T); // C is before this reply on the wire, so it was handed over by now
        assertThat(seen.poll(200, TimeUnit.MILLISECONDS)).isNull();
    }

    @Test
    void aListenerMayIssueCommands() throws Exception {
        QmpClient c = connect();
        BlockingQueue<String> statuses = new LinkedBlockingQueue<>();
        c.addEventListener(e -> {
            try {
                statuses.add(e.name() + ":" + c.queryStatus(T));
            } catch (IOException x) {
                statuses.add("failed: " + x);
            }
        });
        c.cont(T);
        assertThat(statuses.poll(5, TimeUnit.SECONDS)).isEqualTo("RESUME:running");
    }

    @Test
    void aBlockedListenerOverflowingTheQueueFailsTheConnectionLoudly() throws Exception {
        Throwable e = floodABlockedListener(QmpOptions.DEFAULTS.withEventQueueCapacity(4), "FLOOD", null);
        assertThat(e).isInstanceOf(ConnectionClosedException.class)
                .hasMessageContaining("QmpOptions.eventQueueCapacity")
                .hasMessageContaining("a listener is too slow or blocked");
    }

    @Test
    void aBlockedListenerBehindFewHugeEventsFailsTheConnectionAtTheByteBound() throws Exception {
        // 4 KiB lines: the queue may hold 4 × 4 KiB of them, far fewer than its 1024 events.
        ObjectNode big = JsonNodeFactory.instance.objectNode().put("pad", "x".repeat(3000));
        Throwable e = floodABlockedListener(QmpOptions.DEFAULTS.withMaxMessageBytes(4096), "HUGE", big);
        assertThat(e).isInstanceOf(ConnectionClosedException.class)
                .hasMessageContaining("4 × QmpOptions.maxMessageBytes = 16384")
                .hasMessageContaining("a listener is too slow or blocked");
    }

    /**
     * Connects with {@code options}, blocks the one listener, sends 20 events, and returns what the client
     * throws once the connection fails (null if 100 commands later it still has not).
     */
    private Throwable floodABlockedListener(QmpOptions options, String event, ObjectNode data) throws Exception {
        QmpClient c = connect(options);
        CountDownLatch release = new CountDownLatch(1);
        c.addEventListener(e -> {
            try {
                release.await();
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            for (int i = 0; i < 20; i++) {
                fake.sendEvent(event, data);
            }
            return catchThrowable(() -> {
                for (int i = 0; i < 100; i++) {
                    c.queryStatus(T);
                    Thread.sleep(10);
                }
            });
        } finally {
            release.countDown();
        }
    }

    // ---- close ----

    @Test
    void closeFailsPendingCommandsAndIsIdempotent() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.NoReply());
        CompletableFuture<JsonNode> pending = c.executeAsync("x-echo", n(1), T);
        long deadline = System.nanoTime() + T.toNanos();
        while (!fake.receivedCommands().contains("x-echo") && System.nanoTime() < deadline) {
            Thread.sleep(5); // sent, so it is pending when close() comes
        }
        c.close();
        Throwable e = catchThrowable(() -> pending.get(5, TimeUnit.SECONDS));
        assertThat(e).isInstanceOf(ExecutionException.class).cause()
                .isInstanceOf(ConnectionClosedException.class)
                .hasMessage("the QMP client for " + fake.socket() + " was closed while x-echo was pending");
        c.close();
        assertThat(c.isOpen()).isFalse();
        assertThatThrownBy(() -> c.queryStatus(T)).isInstanceOf(ConnectionClosedException.class);
        assertThatThrownBy(() -> c.addEventListener(x -> { })).isInstanceOf(IllegalStateException.class);
        assertThat(fake.awaitNoOpenConnection(T)).isTrue();
    }

    @Test
    void executeOnTheEventLoopIsRefusedInsteadOfDeadlocking() throws Exception {
        QmpClient c = connect();
        fake.inject("x-echo", new Fault.Delay(Duration.ofMillis(300)));
        CompletableFuture<Object> nested = c.executeAsync("x-echo", n(1), T).thenApply(r -> {
            try {
                return c.execute("query-status", null, T);
            } catch (IOException | RuntimeException x) {
                return x;
            }
        });
        Object result = nested.get(5, TimeUnit.SECONDS);
        assertThat(result).isInstanceOf(IllegalStateException.class);
        assertThat(((Exception) result).getMessage()).contains("called on the QMP event loop");
    }
}
