package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.Channels;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.xenfork.testfixtures.FuzzBudget;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionException;
import org.xenfork.wire.ProtocolViolationException;

/**
 * What a hostile xenstored can send ({@link HostileXenstored}), two ways: streams of frames through
 * {@link XsMessageCodec#read} in reads cut anywhere ({@link XsMessageCodecTest.ChunkedChannel}), each frame read then
 * through the payload decoders ({@link XsPayload}, the watch-event decoding of {@link XsConnection}), on the test's
 * thread so that {@link FuzzBudget} counts what they allocate; and, for part of the run, a {@link XenstoreClient}
 * whose every request is answered by the hostile xenstored ({@link ScriptedXenstored}), one operation per case.
 *
 * <p>The only outcomes allowed: decoded (a value, a refusal of xenstored's own, an {@code XS_ERROR} as a
 * {@link XenstoreException}), or refused with the connection exceptions of {@code org.xenfork.wire} whose causes
 * are only more of them — never another exception, and every message printable and bounded.
 */
class XsRepliesFuzzTest {

    private static final HexFormat HEX = HexFormat.of();
    static final int MESSAGE_MAX = 1000;

    /**
     * How long the fuzzer's xenstored waits for a request before it ends the stream: a case whose reply went astray
     * costs this much time, and a slow machine only makes more cases end early (an allowed outcome).
     */
    private static final Duration PATIENCE = Duration.ofMillis(20);

    /** How often each outcome was seen. */
    private static final Map<String, Integer> SEEN = new ConcurrentSkipListMap<>();

    private static void seen(String outcome) {
        SEEN.merge(outcome, 1, Integer::sum);
    }

    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void hostileRepliesAreDecodedOrRefusedWithTheProtocolError() throws Exception {
        long seed = FuzzBudget.seed(0x7873_6675_7a7aL);
        int cases = FuzzBudget.cases(3_000);
        Random random = new Random(seed);
        List<String> badEvents = new CopyOnWriteArrayList<>();
        // Classes load and caches fill once, outside any case's budget.
        for (int i = 0; i < 50; i++) {
            Random warm = new Random(i);
            decode(new HostileXenstored(warm).stream(), 1 + warm.nextInt(20), () -> "warm-up");
        }
        for (int n = 0; n < cases; n++) {
            long caseSeed = random.nextLong();
            int number = n;
            Random r = new Random(caseSeed);
            HostileXenstored hostile = new HostileXenstored(r);
            byte[] stream = hostile.stream();
            int chunk = 1 + (r.nextBoolean() ? r.nextInt(16) : r.nextInt(stream.length + 1));
            Supplier<String> where = () -> "seed " + seed + ", case " + number + " (case seed " + caseSeed + "): stream "
                    + hex(stream) + " in reads of " + chunk;
            // A frame is at most 4112 bytes, and nothing is read before its header is checked.
            new FuzzBudget(Duration.ofMillis(500), (2L << 20) + 16L * stream.length).run(where, () -> decode(stream, chunk, where));

            if (n % 10 == 0) {
                throughAClient(hostile, r, badEvents, () -> "seed " + seed + ", case " + number + " (case seed " + caseSeed + ")");
            }
        }
        System.out.println("xenstore replies fuzz, seed " + seed + ", " + cases + " cases: outcomes " + SEEN);
        assertThat(badEvents).as("watch events handed to listeners without a path or token").isEmpty();
        if (cases >= 1_000) {
            // The generator reaches every outcome, not just the codec's first refusal. What the client meets depends
            // on timing too (PATIENCE), so of its outcomes only two kinds are asked for.
            assertThat(SEEN.keySet()).as("outcomes seen: %s", SEEN).contains("frame", "watch event", "ConnectionClosedException",
                    "ProtocolViolationException", "payload ProtocolViolationException");
            assertThat(SEEN.keySet().stream().filter(k -> k.startsWith("client: "))).as("outcomes seen: %s", SEEN).hasSizeGreaterThan(1);
        }
    }

    // ---- what the fuzzer found, and what it cannot reach ----

    /** A client whose requests are answered by {@code answer}, one after another. */
    private static XenstoreClient against(Function<XsMessage, byte[]> answer, int answers) {
        return XenstoreClient.over(new ScriptedXenstored(answer, answers, XsWire.HEADER_SIZE + XsWire.PAYLOAD_MAX, Duration.ofSeconds(10)),
                Duration.ofSeconds(10));
    }

    /**
     * Found by this fuzzer: a permission in an XS_GET_PERMS reply that is none went into the message as xenstored
     * sent it, terminal escapes and all (case seed -6820430799689311858).
     */
    @Test
    void aPermissionThatIsNoneIsQuotedEscaped() {
        byte[] found = HEX.parseHex("030000000100000000000000050000001b5b324a00");
        try (XenstoreClient xs = against(request -> found, 1)) {
            assertThatThrownBy(() -> xs.getPermissions("/local/domain/0/device-model/7/state"))
                    .isInstanceOf(ProtocolViolationException.class)
                    .hasMessage("XS_GET_PERMS /local/domain/0/device-model/7/state: not a xenstore permission "
                            + "(want n, r, w or b first): \"\\x1b[2J\"");
        }
    }

    /**
     * A children list paged without end ({@code XS_DIRECTORY_PART} pieces that never end in the extra NUL) is
     * refused at {@link XsRequests#DIRECTORY_MAX_BYTES} with a protocol error, as every other reply xenstored could
     * not have sent; it was a plain IOException. The fuzzer's scripts are too short to reach the bound.
     */
    @Test
    void aChildrenListWithoutEndIsRefusedAtItsBound() {
        byte[] piece = new byte[XsWire.PAYLOAD_MAX];
        System.arraycopy("7\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, piece, 0, 2);
        for (int i = 2; i < piece.length; i++) {
            piece[i] = (byte) (i % 4 == 3 ? 0 : 'c'); // "ccc\0ccc\0…": never "\0\0"
        }
        Function<XsMessage, byte[]> endless = request -> request.type() == XsMessageType.DIRECTORY
                ? XsMessageCodec.encode(new XsMessage(XsMessageType.ERROR, request.reqId(), 0, "E2BIG\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII))).array()
                : XsMessageCodec.encode(new XsMessage(XsMessageType.DIRECTORY_PART, request.reqId(), 0, piece)).array();
        try (XenstoreClient xs = against(endless, 1000)) {
            assertThatThrownBy(() -> xs.directory("/local/domain"))
                    .isInstanceOf(ProtocolViolationException.class)
                    .hasMessage("XS_DIRECTORY_PART /local/domain: the children list runs past 1048576 bytes "
                            + "(XsRequests.DIRECTORY_MAX_BYTES) without its end");
        }
    }

    // ---- frames through the codec and the payload decoders ----

    private static void decode(byte[] stream, int chunk, Supplier<String> describe) {
        XsMessageCodecTest.ChunkedChannel in = new XsMessageCodecTest.ChunkedChannel(stream, chunk);
        int at = 0;
        while (true) {
            XsMessage m;
            try {
                m = XsMessageCodec.read(in);
            } catch (ConnectionClosedException e) {
                check(at == stream.length, "a clean end comes between frames", describe);
                assertAllowed(e, describe);
                seen("ConnectionClosedException");
                return;
            } catch (ProtocolViolationException e) {
                assertAllowed(e, describe);
                seen("ProtocolViolationException");
                return;
            } catch (IOException | RuntimeException e) {
                throw new AssertionError("the codec threw " + e + " on " + describe.get(), e);
            }
            seen("frame");
            // What was read is exactly what was sent: the frame encodes back to the bytes it came from.
            byte[] frame = XsMessageCodec.encode(m).array();
            check(Arrays.equals(stream, at, at + frame.length, frame, 0, frame.length), "the frame encodes back to its bytes", describe);
            at += frame.length;
            payloads(m, describe);
        }
    }

    /** Each decoder a reply's payload may meet: decoded, or refused with a protocol error. */
    private static void payloads(XsMessage m, Supplier<String> describe) {
        try {
            check(!XsPayload.splitStrings(m.payload()).contains(null), "no null string", describe);
        } catch (ProtocolViolationException e) {
            assertAllowed(e, describe);
            seen("payload ProtocolViolationException");
        }
        try {
            check(XsPayload.singleString(m.payload()) != null, "a string", describe);
        } catch (ProtocolViolationException e) {
            assertAllowed(e, describe);
        }
        if (m.type() == XsMessageType.WATCH_EVENT) {
            try {
                XsWatchEvent event = XsConnection.watchEvent("xenstored on the fuzzer", m);
                check(event.path() != null && event.token() != null, "a watch event has a path and a token", describe);
                seen("watch event");
            } catch (ProtocolViolationException e) {
                assertAllowed(e, describe);
            }
        }
        assertPrintable(m.toString(), describe);
    }

    /** A plain check: AssertJ's own allocations would count against a case's budget. */
    private static void check(boolean holds, String what, Supplier<String> describe) {
        if (!holds) {
            throw new AssertionError(what + ": " + describe.get());
        }
    }

    // ---- a client against the hostile xenstored ----

    private static void throughAClient(HostileXenstored hostile, Random r, List<String> badEvents, Supplier<String> where) {
        ScriptedXenstored xenstored = new ScriptedXenstored(hostile::answer, 1 + r.nextInt(16), 1 + r.nextInt(4), PATIENCE);
        Supplier<String> describe = () -> where.get() + ": answers " + xenstored.answers();
        int op = r.nextInt(12);
        try (XenstoreClient xs = XenstoreClient.over(xenstored, Duration.ofSeconds(10))) {
            try {
                operation(xs, op, badEvents);
                seen("client: returned");
            } catch (XenstoreException e) {
                assertPrintable(e.getMessage(), describe);
                assertThat(e.errorName()).as(describe).matches("E[A-Z0-9]{1,15}");
                seen("client: XenstoreException");
            } catch (IOException e) {
                assertAllowed(e, describe);
                seen("client: " + e.getClass().getSimpleName());
            } catch (RuntimeException | Error e) {
                throw new AssertionError("operation " + op + " threw " + e + ": " + describe.get(), e);
            }
        }
    }

    private static void operation(XenstoreClient xs, int op, List<String> badEvents) throws IOException {
        String node = "/local/domain/0/device-model/7/state";
        switch (op) {
            case 0 -> xs.read(node);
            case 1 -> xs.readBytes(node);
            case 2 -> xs.write(node, "running");
            case 3 -> assertThat(xs.directory("/local/domain")).doesNotContainNull();
            case 4 -> assertThat(xs.getPermissions(node)).isNotEmpty();
            case 5 -> assertThat(XsPath.isValidNodePath(xs.getDomainPath(7))).isTrue();
            case 6 -> xs.transaction(tx -> tx.read(node));
            case 7 -> {
                try (XenstoreTransaction tx = xs.startTransaction()) {
                    tx.write(node, "x");
                    tx.commit();
                }
            }
            case 8 -> {
                try (XenstoreWatch w = xs.watch(node, e -> {
                    if (e.path() == null || e.token() == null) {
                        badEvents.add(String.valueOf(e));
                    }
                    seen("client: watch event");
                })) {
                    assertThat(w.token()).isNotEmpty();
                    xs.read(node);
                }
            }
            case 9 -> xs.mkdir(node);
            case 10 -> xs.rm(node);
            default -> xs.setPermissions(node, List.of(XsPermission.none(0), XsPermission.read(7)));
        }
    }

    /**
     * xenstored as a script: each request the client writes is answered by {@code answer} (such as
     * {@link HostileXenstored#answer}), served in reads of at most {@code chunk} bytes; after {@code answers} answers,
     * or when no request has come for {@code patience} (the client waits for a reply the script left out), the end
     * of the stream.
     */
    static final class ScriptedXenstored implements XsTransport {
        private static final XsMessage CLOSED = new XsMessage(XsMessageType.CONTROL, 0, 0, new byte[0]);

        private final Function<XsMessage, byte[]> hostile;
        private final int answers;
        private final int chunk;
        private final long patience;
        private final BlockingQueue<XsMessage> requests = new LinkedBlockingQueue<>();
        private final List<String> log = new CopyOnWriteArrayList<>();
        private ByteBuffer serving = ByteBuffer.allocate(0);
        private int answered;
        private volatile boolean closed;

        ScriptedXenstored(Function<XsMessage, byte[]> hostile, int answers, int chunk, Duration patience) {
            this.patience = patience.toNanos();
            this.hostile = hostile;
            this.answers = answers;
            this.chunk = chunk;
        }

        /** The answers given so far, in hex, for a failure's message. */
        String answers() {
            return log.toString();
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            while (!serving.hasRemaining()) {
                if (answered == answers) {
                    return -1;
                }
                XsMessage request;
                try {
                    request = requests.poll(patience, TimeUnit.NANOSECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AsynchronousCloseException();
                }
                if (request == CLOSED || closed) {
                    throw new AsynchronousCloseException();
                }
                if (request == null) {
                    return -1;
                }
                byte[] answer = hostile.apply(request);
                log.add(hex(answer));
                serving = ByteBuffer.wrap(answer);
                answered++;
            }
            int n = Math.min(chunk, Math.min(dst.remaining(), serving.remaining()));
            ByteBuffer piece = serving.slice();
            piece.limit(n);
            dst.put(piece);
            serving.position(serving.position() + n);
            return n;
        }

        @Override
        public void write(ByteBuffer frame) throws IOException {
            if (closed) {
                throw new AsynchronousCloseException();
            }
            byte[] bytes = new byte[frame.remaining()];
            frame.get(bytes);
            requests.add(XsMessageCodec.read(Channels.newChannel(new ByteArrayInputStream(bytes))));
        }

        @Override
        public boolean oneRequestAtATime() {
            return false;
        }

        @Override
        public String describe() {
            return "the fuzzer's xenstored";
        }

        @Override
        public boolean isOpen() {
            return !closed;
        }

        @Override
        public void close() {
            closed = true;
            requests.add(CLOSED);
        }
    }

    // ---- what a refusal may be ----

    /** One of the connection exceptions of {@code org.xenfork.wire}, caused only by more of them, with printable bounded messages. */
    static void assertAllowed(Throwable t, Supplier<String> describe) {
        if (!(t instanceof ConnectionException)) {
            throw new AssertionError("refused with " + t + ", not a connection exception: " + describe.get(), t);
        }
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (!(c instanceof ConnectionException || c instanceof AsynchronousCloseException)) {
                throw new AssertionError("refused with " + t + ", caused by " + c + ": " + describe.get(), t);
            }
            assertPrintable(c.getMessage(), describe);
        }
    }

    static void assertPrintable(String message, Supplier<String> describe) {
        if (message == null || message.isBlank() || message.length() > MESSAGE_MAX) {
            throw new AssertionError("a message of " + (message == null ? "null" : message.length() + " characters") + ": "
                    + (message == null ? "" : XsPayload.printable(message.getBytes(java.nio.charset.StandardCharsets.UTF_8), 300))
                    + ": " + describe.get());
        }
        for (int i = 0; i < message.length(); i++) {
            char c = message.charAt(i);
            if (c < 0x20 || c >= 0x7f) {
                throw new AssertionError("the message carries the character U+" + String.format("%04X", (int) c) + ": "
                        + XsPayload.printable(message.getBytes(java.nio.charset.StandardCharsets.UTF_8), 300) + ": " + describe.get());
            }
        }
    }

    static String hex(byte[] bytes) {
        int n = Math.min(bytes.length, 2048);
        return HEX.formatHex(bytes, 0, n) + (n < bytes.length ? "… (" + bytes.length + " bytes)" : "");
    }
}
