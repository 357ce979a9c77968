package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.unix.Errors;
import io.netty.handler.codec.TooLongFrameException;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.FakeQmpServer;
import org.xenfork.testfixtures.FuzzBudget;
import org.xenfork.wire.ConnectionException;
import org.xenfork.wire.EventDispatcher;
import org.xenfork.wire.ProtocolViolationException;

/**
 * What a hostile QMP server can send ({@link HostileQmp}), three ways: each line through the decoders alone
 * ({@link QmpMessageDecoder#parse}, {@link QmpMessage#of}), with an oracle for what an event must become; whole
 * scripts cut into reads at random through the client's own pipeline and {@link QmpSession} on an
 * {@link EmbeddedChannel} (on the test's thread, so {@link FuzzBudget} counts every byte they allocate), with
 * commands sent before, between and after, and timeouts fired; and, for part of the run, a real
 * {@link QmpClient} against {@link FakeQmpServer#script}.
 *
 * <p>The only outcomes allowed: decoded (a greeting, a return, a QMP error reply, an event), or refused with the
 * connection exceptions of {@code org.xenfork.wire} whose causes are the parser's own words — never another
 * exception (a {@code DateTimeException} from a timestamp, say), and every message printable (no control
 * characters a hostile QEMU could use on a terminal) and of bounded length.
 */
class QmpRepliesFuzzTest {

    private static final HexFormat HEX = HexFormat.of();
    private static final String SOCKET = "/run/xen/qmp-libxl-fuzz";
    private static final byte[] QUERY_STATUS = "{\"execute\":\"query-status\"".getBytes(StandardCharsets.US_ASCII);
    private static final int[] BOUNDS = {256, 4096, 65536, QmpOptions.DEFAULTS.maxMessageBytes()};
    /** The longest message a refusal may have: the socket, the command, the peer's words in a 200-character excerpt. */
    static final int MESSAGE_MAX = 1500;

    /** How often each outcome was seen. */
    private static final java.util.Map<String, Integer> SEEN = new java.util.concurrent.ConcurrentSkipListMap<>();

    private static void seen(String outcome) {
        SEEN.merge(outcome, 1, Integer::sum);
    }

    /** Events the session decodes go through a dispatcher like a client's; the listener checks them. */
    private static final List<String> BAD_EVENTS = new CopyOnWriteArrayList<>();
    private static final EventDispatcher<QmpEvent> EVENTS = new EventDispatcher<>("fuzzed QMP events", "qmp-fuzz-events",
            1 << 16, "test", Long.MAX_VALUE, "test");

    static {
        EVENTS.subscribe(e -> {
            if (e.name() == null || e.name().isEmpty() || e.data() == null) {
                BAD_EVENTS.add(String.valueOf(e));
            }
        });
    }

    @AfterAll
    static void closeEvents() {
        EVENTS.close();
    }

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void hostileRepliesAreDecodedOrRefusedWithTheProtocolError() throws Exception {
        long seed = FuzzBudget.seed(0x716d_7066_757aL);
        int cases = FuzzBudget.cases(3_000);
        Random random = new Random(seed);
        try (FakeQmpServer server = FakeQmpServer.start(dir.resolve("hostile.sock"))) {
            for (int n = 0; n < cases; n++) {
                long caseSeed = random.nextLong();
                int number = n;
                Random r = new Random(caseSeed);
                int bound = BOUNDS[r.nextInt(10) == 0 ? r.nextInt(BOUNDS.length) : r.nextInt(2)];
                HostileQmp hostile = new HostileQmp(r, bound);
                Supplier<String> where = () -> "seed " + seed + ", case " + number + " (case seed " + caseSeed + ", bound "
                        + bound + ")";

                List<byte[]> lines = hostile.lines(1 + r.nextInt(4));
                long lineBytes = lines.stream().mapToLong(l -> l.length).sum();
                budget(lineBytes, lines.size()).run(() -> where.get() + ": lines " + hexes(lines), () -> {
                    for (byte[] line : lines) {
                        decodeAlone(line, () -> where.get() + ": line " + hex(line));
                    }
                });

                List<byte[]> segments = hostile.script();
                List<int[]> chunks = segments.stream().map(s -> hostile.chunks(s.length)).toList();
                long wireBytes = segments.stream().mapToLong(s -> s.length).sum();
                int reads = chunks.stream().mapToInt(c -> c.length).sum();
                Supplier<String> script = () -> where.get() + ": script " + hexes(segments) + " in " + reads + " reads";
                budget(wireBytes, reads).run(script, () -> throughTheSession(segments, chunks, bound, r, script));

                if (n % 25 == 0) {
                    throughARealClient(server, segments, bound, script);
                }
            }
        }
        assertThat(BAD_EVENTS).as("events handed to listeners without a name or data").isEmpty();
        System.out.println("QMP replies fuzz, seed " + seed + ", " + cases + " cases: outcomes " + SEEN);
        if (cases >= 1_000) {
            // The generator reaches every outcome, not just the parser's first refusal. What the real client meets
            // depends on timing too (FakeQmpServer.SCRIPT_PATIENCE), so of its outcomes only two kinds are asked for.
            assertThat(SEEN.keySet()).as("outcomes seen: %s", SEEN).contains("Greeting", "Return", "Error", "Event",
                    "event without a timestamp", "ProtocolViolationException", "session: QmpErrorException",
                    "session: ProtocolViolationException", "session: ConnectionTimeoutException", "session: returned");
            assertThat(SEEN.keySet().stream().filter(k -> k.startsWith("client: "))).as("outcomes seen: %s", SEEN).hasSizeGreaterThan(1);
        }
    }


    /**
     * Time and allocation grow with the input, never beyond: a tree of small values is some 30 times its text, and
     * each read costs Netty a few hundred bytes (a hostile peer cannot make reads smaller than the kernel's).
     */
    private static FuzzBudget budget(long inputBytes, int reads) {
        return new FuzzBudget(Duration.ofMillis(500 + inputBytes / 500 + reads / 50), (16L << 20) + 64 * inputBytes + 1024L * reads);
    }

    // ---- one line through the decoders ----

    private static void decodeAlone(byte[] line, Supplier<String> describe) {
        QmpMessage m;
        try {
            m = QmpMessage.of(QmpMessageDecoder.parse(Unpooled.wrappedBuffer(line)), line.length);
        } catch (ProtocolViolationException e) {
            assertAllowed(e, describe);
            seen("ProtocolViolationException");
            return;
        } catch (RuntimeException | Error e) {
            throw new AssertionError("the decoders threw " + e + " on " + describe.get(), e);
        }
        seen(m.getClass().getSimpleName());
        if (m instanceof QmpMessage.Event e) {
            JsonNode raw = parse(line);
            QmpEvent event = e.event();
            assertThat(event.name()).as(describe).isEqualTo(raw.get("event").textValue()).isNotEmpty();
            JsonNode data = raw.get("data");
            if (data == null || data.isNull()) {
                assertThat(event.data().isObject() && event.data().isEmpty()).as(describe).isTrue();
            } else {
                assertThat(event.data()).as(describe).isEqualTo(data);
            }
            assertThat(event.timestamp()).as("the timestamp of " + describe.get()).isEqualTo(expectedTimestamp(raw.get("timestamp")));
            if (event.timestamp() == null) {
                seen("event without a timestamp");
            }
        } else if (m instanceof QmpMessage.Error e) {
            assertThat(e.errorClass()).as(describe).isNotNull();
            assertThat(e.desc()).as(describe).isNotNull();
        }
    }

    private static JsonNode parse(byte[] line) {
        try {
            return QmpJson.parse(new java.io.ByteArrayInputStream(line));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * The oracle, in exact arithmetic: QEMU's {@code {"seconds": S, "microseconds": U}} is an instant when both are
     * integers, U is a remainder of a division by 10^6 (QEMU's C {@code %} makes it negative before 1970), the two
     * are not QEMU's "no clock" {@code -1, -1}, and the sum is within {@link Instant}'s range; else there is none.
     */
    static Instant expectedTimestamp(JsonNode ts) {
        if (ts == null || !ts.isObject()) {
            return null;
        }
        JsonNode s = ts.get("seconds");
        JsonNode u = ts.get("microseconds");
        if (s == null || u == null || !s.isIntegralNumber() || !u.isIntegralNumber()) {
            return null;
        }
        BigInteger seconds = s.bigIntegerValue();
        BigInteger micros = u.bigIntegerValue();
        if (micros.abs().compareTo(BigInteger.valueOf(999_999)) > 0
                || seconds.equals(BigInteger.ONE.negate()) && micros.equals(BigInteger.ONE.negate())) {
            return null;
        }
        BigDecimal at = new BigDecimal(seconds).add(new BigDecimal(micros).movePointLeft(6));
        if (at.compareTo(BigDecimal.valueOf(Instant.MIN.getEpochSecond())) < 0
                || at.compareTo(BigDecimal.valueOf(Instant.MAX.getEpochSecond()).add(new BigDecimal("0.999999999"))) > 0) {
            return null;
        }
        return Instant.ofEpochSecond(seconds.longValueExact(), micros.longValueExact() * 1000);
    }

    // ---- a script through the pipeline, on this thread ----

    /**
     * Segment 0 at once (the session sends qmp_capabilities itself on the greeting), then for each next segment
     * a command first as a connected client would, now and then one more or none; each segment in its reads.
     */
    private static void throughTheSession(List<byte[]> segments, List<int[]> chunks, int bound, Random r,
                                          Supplier<String> describe) {
        QmpSession session = new QmpSession(SOCKET, bound, 8, EVENTS, System.nanoTime() + TimeUnit.SECONDS.toNanos(30));
        EmbeddedChannel ch = new EmbeddedChannel(QmpClient.framing(bound), new QmpMessageDecoder(), new QmpCommandEncoder(), session);
        List<CompletableFuture<JsonNode>> replies = new ArrayList<>();
        try {
            feed:
            for (int s = 0; s < segments.size(); s++) {
                // Commands only once connected, as from a client, and a few (maxInFlight is not what is tested here).
                for (int k = s < 2 ? 0 : r.nextInt(6) == 0 ? r.nextInt(3) : 1; k > 0 && session.greeting().isDone(); k--) {
                    replies.add(session.submit("query-status", QUERY_STATUS, Duration.ofSeconds(5)));
                }
                int at = 0;
                for (int chunk : chunks.get(s)) {
                    ch.runPendingTasks();
                    if (!ch.isOpen()) {
                        break feed; // the session gave up on the stream: nothing more is read from it
                    }
                    ch.writeInbound(Unpooled.wrappedBuffer(segments.get(s), at, chunk));
                    at += chunk;
                    ch.runPendingTasks();
                }
            }
            if (r.nextInt(4) == 0) {
                ch.advanceTimeBy(1, TimeUnit.MINUTES);
                ch.runScheduledPendingTasks();
            }
            // After everything: either the connection still works, or a command says why it does not.
            replies.add(session.submit("query-status", QUERY_STATUS, Duration.ofSeconds(5)));
            ch.runPendingTasks();
            ch.close();
            ch.runPendingTasks();
        } catch (RuntimeException | Error e) {
            throw new AssertionError("the pipeline threw " + e + " on " + describe.get(), e);
        } finally {
            ch.finishAndReleaseAll();
        }
        outcome(session.greeting(), null, describe);
        outcome(session.capabilities(), null, describe);
        for (CompletableFuture<JsonNode> reply : replies) {
            outcome(reply, "session: ", describe);
        }
    }

    private static void outcome(CompletableFuture<?> future, String count, Supplier<String> describe) {
        assertThat(future).as("every future is completed by the close at the latest: %s", describe).isDone();
        try {
            future.getNow(null);
            if (count != null) {
                seen(count + "returned");
            }
        } catch (java.util.concurrent.CompletionException e) {
            assertAllowed(e.getCause(), describe);
            if (count != null) {
                seen(count + e.getCause().getClass().getSimpleName());
            }
        } catch (java.util.concurrent.CancellationException e) {
            throw new AssertionError("cancelled: " + describe.get(), e);
        }
    }

    // ---- a script against a real client ----

    private static void throughARealClient(FakeQmpServer server, List<byte[]> segments, int bound, Supplier<String> describe) {
        server.script(segments);
        try (QmpClient client = QmpClient.connect(server.socket(), Duration.ofSeconds(10),
                QmpOptions.DEFAULTS.withMaxMessageBytes(bound))) {
            seen("client: connected");
            client.addEventListener(e -> {
                if (e.name() == null || e.name().isEmpty() || e.data() == null) {
                    BAD_EVENTS.add(String.valueOf(e));
                }
            });
            for (int i = 0; i < 2; i++) {
                try {
                    client.execute("query-status", null, Duration.ofSeconds(10));
                    seen("client: returned");
                } catch (IOException e) {
                    assertAllowed(e, describe);
                    seen("client: " + e.getClass().getSimpleName());
                }
            }
        } catch (IOException e) {
            assertAllowed(e, describe);
            seen("client: " + e.getClass().getSimpleName());
        } catch (RuntimeException | Error e) {
            throw new AssertionError("the client threw " + e + " on " + describe.get(), e);
        }
    }

    // ---- what a refusal may be ----

    /**
     * A QMP error reply, or one of the connection exceptions of {@code org.xenfork.wire} whose causes are only
     * more of them, the JSON parser's or the framing's words, or the socket's own errors; with a message that names
     * something, is printable and is bounded.
     */
    static void assertAllowed(Throwable t, Supplier<String> describe) {
        if (!(t instanceof QmpErrorException || t instanceof ConnectionException)) {
            throw new AssertionError("refused with " + t + ", not a QMP error reply or a connection exception: " + describe.get(), t);
        }
        for (Throwable c = t; c != null; c = c.getCause()) {
            boolean allowed = c instanceof ConnectionException || c instanceof QmpErrorException || c instanceof JacksonException
                    || c instanceof TooLongFrameException || c instanceof Errors.NativeIoException;
            if (!allowed) {
                throw new AssertionError("refused with " + t + ", caused by " + c + ": " + describe.get(), t);
            }
            if (c instanceof ConnectionException || c instanceof QmpErrorException) {
                assertPrintable(c.getMessage(), describe);
            }
        }
    }

    static void assertPrintable(String message, Supplier<String> describe) {
        if (message == null || message.isBlank() || message.length() > MESSAGE_MAX) {
            throw new AssertionError("a message of " + (message == null ? "null" : message.length() + " characters")
                    + ": " + (message == null ? "" : Texts.excerpt(message, 300)) + ": " + describe.get());
        }
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            boolean paired = Character.isHighSurrogate(c) && i + 1 < message.length() && Character.isLowSurrogate(message.charAt(i + 1));
            if (paired) {
                i++;
                continue;
            }
            if (Character.isISOControl(c) || Character.isSurrogate(c) || c == '\u2028' || c == '\u2029') {
                throw new AssertionError("the message carries the control character U+" + String.format("%04X", (int) c)
                        + ": " + Texts.excerpt(message, 300) + ": " + describe.get());
            }
        }
    }

    private static String hexes(List<byte[]> lines) {
        return lines.stream().map(QmpRepliesFuzzTest::hex).toList().toString();
    }

    /** The input in hex, its first 2 KiB for a long one (its case seed gives it whole). */
    static String hex(byte[] bytes) {
        int n = Math.min(bytes.length, 2048);
        return HEX.formatHex(bytes, 0, n) + (n < bytes.length ? "… (" + bytes.length + " bytes)" : "");
    }
}
