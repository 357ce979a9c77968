package org.xenfork.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionTimeoutException;
import org.xenfork.wire.EventDispatcher;
import org.xenfork.wire.FileKind;
import org.xenfork.wire.ProtocolViolationException;
import org.xenfork.wire.Subscription;

/**
 * A QMP client for one QEMU socket (QEMU's {@code -qmp unix:PATH,server=on}), on Netty's native epoll
 * transport. {@link #connect} reads the greeting and negotiates capabilities (none are enabled); the client
 * it returns is ready for commands.
 *
 * <ul>
 * <li>Commands carry ids unique per client; replies are matched by id. Any number of threads may issue
 *     commands at once; QEMU answers them in order.</li>
 * <li>Every command has its own timeout. A timed-out command's late reply is dropped, never taken for
 *     another command's.</li>
 * <li>Events go to listeners ({@link #addEventListener}) in order, on one thread of the client's own,
 *     never to a command.</li>
 * <li>A QMP error reply is a {@link QmpErrorException} carrying the error class and {@code desc}; the
 *     connection stays usable. A protocol error ({@link ProtocolViolationException}) or QEMU going away
 *     ({@link ConnectionClosedException}) ends the connection: pending commands fail, later ones fail at once.
 *     A timeout is a {@link ConnectionTimeoutException}. All three name the peer ({@code QEMU on PATH}) and the
 *     command.</li>
 * <li>Messages longer than {@link QmpOptions#maxMessageBytes()} (1 MiB by default) are refused.</li>
 * </ul>
 *
 * <p>Threading: all clients of a JVM share one epoll thread (see {@code QmpEventLoop}); it exists while at
 * least one client is open, and for a linger of 1 s after the last one closed. Futures from {@link #executeAsync} complete on that thread: dependent stages
 * added with non-async methods run there and must not block (use the {@code *Async} variants, or
 * {@link #execute}). {@link #execute} refuses to run on that thread, where it would wait for itself.
 * Layering and figures: docs/QMP.md.
 */
public final class QmpClient implements AutoCloseable {

    /** The event thread of each client is named this and the socket path. */
    static final String EVENTS_THREAD_PREFIX = "xenfork-qmp-events ";

    /** QMP command names: letters, digits, '-', '_', and '.' (downstream prefixes such as __com.redhat_). */
    private static final Pattern COMMAND = Pattern.compile("[A-Za-z0-9_.-]{1,128}");
    /** How long {@link #execute} waits beyond the command's timeout for the event loop to time it out. */
    private static final long GRACE_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final int SUN_PATH_MAX = 107; // sockaddr_un.sun_path holds 108 bytes with the NUL

    private final Path socket;
    private final QmpOptions options;
    private final EventLoopGroup group;
    private final Channel channel;
    private final QmpSession session;
    private final EventDispatcher<QmpEvent> events;
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile QmpGreeting greeting;

    private QmpClient(Path socket, QmpOptions options, EventLoopGroup group, Channel channel, QmpSession session,
                      EventDispatcher<QmpEvent> events) {
        this.socket = socket;
        this.options = options;
        this.group = group;
        this.channel = channel;
        this.session = session;
        this.events = events;
    }

    /** {@link #connect(Path, Duration, QmpOptions)} with {@link QmpOptions#DEFAULTS}. */
    public static QmpClient connect(Path socket, Duration timeout) throws IOException {
        return connect(socket, timeout, QmpOptions.DEFAULTS);
    }

    /**
     * Connects to QEMU's QMP socket, reads the greeting and sends {@code qmp_capabilities}, all within
     * {@code timeout}.
     *
     * @throws java.nio.file.NoSuchFileException if {@code socket} does not exist
     * @throws ConnectionTimeoutException if no greeting (or no reply to {@code qmp_capabilities}) came in time;
     *         the message names the socket and what was missing
     * @throws QmpSocketPathException if {@code socket} is not a Unix socket or too long for a socket address
     * @throws IOException if nobody listens on it, it does not speak QMP, or native epoll is unavailable
     */
    public static QmpClient connect(Path socket, Duration timeout, QmpOptions options) throws IOException {
        requirePositive(timeout);
        Objects.requireNonNull(options, "options");
        long deadline = System.nanoTime() + Texts.nanos(timeout);
        Path path = socket.toAbsolutePath();
        checkSocket(path);
        EventLoopGroup group = QmpEventLoop.acquire();
        EventDispatcher<QmpEvent> events = new EventDispatcher<>("QMP events from " + path,
                EVENTS_THREAD_PREFIX + path, options.eventQueueCapacity(), "QmpOptions.eventQueueCapacity",
                QmpOptions.EVENT_QUEUE_MESSAGES * (long) options.maxMessageBytes(),
                QmpOptions.EVENT_QUEUE_MESSAGES + " × QmpOptions.maxMessageBytes");
        QmpSession session = new QmpSession(path.toString(), options.maxMessageBytes(), options.maxInFlight(), events,
                deadline);
        ChannelFuture connecting;
        try {
            connecting = new Bootstrap()
                    .group(group)
                    .channel(EpollDomainSocketChannel.class)
                    .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.max(1, Math.min(Integer.MAX_VALUE, Texts.nanos(timeout) / 1_000_000)))
                    .handler(new ChannelInitializer<EpollDomainSocketChannel>() {
                        @Override
                        protected void initChannel(EpollDomainSocketChannel ch) {
                            ch.pipeline()
                                    .addLast("framing", framing(options.maxMessageBytes()))
                                    .addLast("json", new QmpMessageDecoder())
                                    .addLast("commands", new QmpCommandEncoder())
                                    .addLast("session", session);
                        }
                    })
                    .connect(new DomainSocketAddress(path.toString()));
        } catch (RuntimeException | Error e) {
            events.close();
            QmpEventLoop.release(group, Duration.ofSeconds(1));
            throw e;
        }
        QmpClient client = new QmpClient(path, options, group, connecting.channel(), session, events);
        boolean ready = false;
        try {
            client.awaitConnected(connecting, deadline, timeout);
            client.awaitReady(deadline, timeout);
            ready = true;
            return client;
        } finally {
            if (!ready) {
                client.close();
            }
        }
    }

    /**
     * Framing: QEMU ends every message with CRLF (qmp-spec 2.1.1), one JSON value per line. A line (without
     * its line end) longer than {@code maxMessageBytes} is refused with a {@code TooLongFrameException}, an
     * endless one as soon as it passes the bound (fail-fast), so no more is ever buffered;
     * {@link QmpSession} turns it into a {@link ProtocolViolationException} naming the bound.
     */
    static QmpLineDecoder framing(int maxMessageBytes) {
        return new QmpLineDecoder(maxMessageBytes);
    }

    private static void checkSocket(Path path) throws IOException {
        int length = path.toString().getBytes(StandardCharsets.UTF_8).length;
        if (length > SUN_PATH_MAX) {
            throw new QmpSocketPathException(path, "QMP socket path " + path + " is " + length
                    + " bytes; a Unix socket address holds at most " + SUN_PATH_MAX);
        }
        FileKind kind = FileKind.of(path).orElseThrow(() -> new NoSuchFileException(path.toString(), null,
                "no such QMP socket (is QEMU running with -qmp unix:" + path + ",server=on?)"));
        if (kind != FileKind.SOCKET) {
            throw new QmpSocketPathException(path, path + " is not a Unix socket (it is " + kind
                    + "), so it cannot be a QMP socket");
        }
    }

    private void awaitConnected(ChannelFuture connecting, long deadline, Duration timeout) throws IOException {
        try {
            if (!connecting.await(remaining(deadline), TimeUnit.NANOSECONDS)) {
                throw new ConnectionTimeoutException(peer(), "connect", timeout, "connecting to the QMP socket " + socket
                        + " took longer than " + Texts.duration(timeout));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted connecting to the QMP socket " + socket);
        }
        if (!connecting.isSuccess()) {
            Throwable cause = connecting.cause();
            throw new IOException("cannot connect to the QMP socket " + socket + ": " + cause.getMessage()
                    + (cause instanceof ConnectException ? " (nobody listens on it: is QEMU still running? its socket file "
                    + "outlives it)" : ""), cause);
        }
    }

    /** Waits for the greeting and the reply to {@code qmp_capabilities}, which the event loop sends itself. */
    private void awaitReady(long deadline, Duration timeout) throws IOException {
        try {
            session.capabilities().get(remaining(deadline), TimeUnit.NANOSECONDS);
            greeting = session.greeting().getNow(null);
            return;
        } catch (TimeoutException e) {
            if (!session.greeting().isDone()) {
                throw noGreeting(timeout);
            }
            throw capabilitiesTimeout(timeout, null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for the QMP greeting from " + socket);
        } catch (ExecutionException e) {
            Throwable why = e.getCause();
            if (session.greeting().isCompletedExceptionally()) {
                throw greetingFailed(why);
            }
            if (why instanceof ConnectionTimeoutException t) {
                throw capabilitiesTimeout(timeout, t);
            }
            if (why instanceof IOException io) {
                throw io;
            }
            throw new IOException("connecting to " + socket + " failed: " + why, why);
        }
    }

    private ConnectionTimeoutException noGreeting(Duration timeout) {
        return new ConnectionTimeoutException(peer(), "QMP greeting", timeout, "no QMP greeting from " + socket + " within "
                + Texts.duration(timeout) + " — is it a QMP socket? (QEMU serves one QMP client at a time: "
                + "is another client connected?)");
    }

    private ConnectionTimeoutException capabilitiesTimeout(Duration timeout, Throwable cause) {
        return new ConnectionTimeoutException(peer(), "qmp_capabilities", timeout, "QEMU on " + socket
                + " sent its greeting but did not answer qmp_capabilities within " + Texts.duration(timeout), cause);
    }

    private IOException greetingFailed(Throwable why) {
        if (why instanceof ProtocolViolationException p) {
            Throwable detail = p.getCause() != null ? p.getCause() : p;
            return new ProtocolViolationException(peer(), "QMP greeting", "no QMP greeting from " + socket + " — is it a QMP socket? "
                    + detail.getMessage(), p);
        }
        return new ConnectionClosedException(peer(), "QMP greeting", socket + " closed the connection before sending a QMP greeting — is it a QMP "
                + "socket? (" + why.getMessage() + ")", why);
    }

    /** The greeting QEMU sent on this connection. */
    public QmpGreeting greeting() {
        return greeting;
    }

    /** The socket, as an absolute path. */
    public Path socket() {
        return socket;
    }

    /** The bounds this client was opened with. */
    public QmpOptions options() {
        return options;
    }

    /** An empty arguments object to fill in. */
    public static ObjectNode arguments() {
        return JsonNodeFactory.instance.objectNode();
    }

    /**
     * Runs {@code command} and returns its {@code return} value ({@code {}} for commands without data).
     *
     * @param arguments the command's arguments, or null for none
     * @throws QmpErrorException QEMU refused the command (the connection stays usable)
     * @throws ConnectionTimeoutException no reply within {@code timeout}
     * @throws ProtocolViolationException the peer broke the protocol (the connection is closed)
     * @throws ConnectionClosedException the connection is gone
     * @throws IllegalStateException if called on the client's event-loop thread
     */
    public JsonNode execute(String command, ObjectNode arguments, Duration timeout) throws IOException {
        if (channel.eventLoop().inEventLoop()) {
            throw new IllegalStateException("QmpClient.execute(" + command + ") called on the QMP event loop, where it "
                    + "would wait for itself; use executeAsync there");
        }
        CompletableFuture<JsonNode> reply = executeAsync(command, arguments, timeout);
        try {
            return reply.get(Texts.nanos(timeout) + GRACE_NANOS, TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            Throwable why = e.getCause();
            if (why instanceof IOException io) {
                throw io;
            }
            throw new IOException(command + " failed on " + socket + ": " + why, why);
        } catch (TimeoutException e) {
            // The event loop times every command out itself; reaching this means it is stuck.
            throw new ConnectionTimeoutException(peer(), command, timeout, "no reply to " + command + " from QEMU on " + socket
                    + " within " + Texts.duration(timeout) + ", and the QMP event loop did not time it out (blocked?)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for the reply to " + command + " from " + socket);
        }
    }

    /**
     * Sends {@code command} and returns a future for its {@code return} value, failed with the same
     * exceptions {@link #execute} throws. It completes on the QMP event-loop thread.
     *
     * @throws IllegalArgumentException for a malformed command name, a non-positive timeout, or arguments
     *         longer than {@link QmpOptions#maxMessageBytes()}
     */
    public CompletableFuture<JsonNode> executeAsync(String command, ObjectNode arguments, Duration timeout) {
        Objects.requireNonNull(command, "command");
        if (!COMMAND.matcher(command).matches()) {
            throw new IllegalArgumentException("not a QMP command name: \"" + Texts.excerpt(command, 80) + "\"");
        }
        requirePositive(timeout);
        byte[] head = head(command, arguments);
        if (head.length + 32 > options.maxMessageBytes()) {
            throw new IllegalArgumentException(command + " with these arguments is " + head.length
                    + " bytes, over the QMP message bound of " + Texts.bytes(options.maxMessageBytes())
                    + " (QmpOptions.maxMessageBytes)");
        }
        return session.submit(command, head, timeout);
    }

    private static byte[] head(String command, ObjectNode arguments) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(64);
        out.writeBytes(("{\"execute\":\"" + command + "\"").getBytes(StandardCharsets.US_ASCII));
        if (arguments != null) {
            out.writeBytes(",\"arguments\":".getBytes(StandardCharsets.US_ASCII));
            try {
                QmpJson.write(arguments, out);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot serialise the arguments of " + command + ": " + e.getMessage(), e);
            }
        }
        return out.toByteArray();
    }

    /**
     * {@code xen-save-devices-state}: QEMU writes the state of all its devices (not RAM, not disks) to
     * {@code file}, which it opens itself (so the path is made absolute here, and it must be writable by
     * QEMU). {@code live = false} leaves the VM's disk images active, which a parent that keeps running
     * needs; {@code live = true} inactivates them when the VM was stopped ({@code qmp_xen_save_devices_state},
     * QEMU's migration/savevm.c).
     */
    public void saveDevicesState(Path file, boolean live, Duration timeout) throws IOException {
        ObjectNode args = arguments();
        args.put("filename", file.toAbsolutePath().toString());
        args.put("live", live);
        execute("xen-save-devices-state", args, timeout);
    }

    /** {@code query-status}: the run state, e.g. {@code prelaunch}, {@code inmigrate}, {@code paused}, {@code running}. */
    public String queryStatus(Duration timeout) throws IOException {
        JsonNode reply = execute("query-status", null, timeout);
        JsonNode status = reply == null ? null : reply.get("status");
        if (status == null || !status.isTextual()) {
            throw new ProtocolViolationException(peer(), "query-status", "query-status reply from " + socket + " has no status: "
                    + Texts.json(reply));
        }
        return status.textValue();
    }

    /** {@code cont}: resume the VM (QEMU sends a RESUME event). */
    public void cont(Duration timeout) throws IOException {
        execute("cont", null, timeout);
    }

    /** {@code stop}: pause the VM (a STOP event if it was running). */
    public void stop(Duration timeout) throws IOException {
        execute("stop", null, timeout);
    }

    /**
     * Registers {@code listener} for every event from now on. Listeners run one at a time, in event
     * order, on a thread of this client's own (never the event loop), so they may issue commands. An
     * exception from a listener is logged and delivery goes on.
     *
     * @throws IllegalStateException if the client is closed
     */
    public Subscription addEventListener(Consumer<QmpEvent> listener) {
        return events.subscribe(listener);
    }

    /** True until {@link #close()}, a protocol error or QEMU closing the connection. */
    public boolean isOpen() {
        return !closed.get() && session.isOpen();
    }

    /**
     * Closes the connection: pending commands fail with a {@link ConnectionClosedException}, event delivery stops,
     * and the shared event loop is released — if this was the JVM's last open client, its thread ends after
     * the linger (1 s by default; see docs/QMP.md, Threading). Idempotent; also needed after QEMU went away,
     * to release the event loop.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        session.closeByClient();
        ChannelFuture closing = channel.close();
        boolean onLoop = channel.eventLoop().inEventLoop();
        if (!onLoop) {
            closing.awaitUninterruptibly(2000);
        }
        events.close();
        QmpEventLoop.release(group, Duration.ofSeconds(2));
    }

    /** The peer as this client's exceptions name it. */
    private String peer() {
        return "QEMU on " + socket;
    }

    private static long remaining(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }

    private static void requirePositive(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive: " + timeout);
        }
    }

    @Override
    public String toString() {
        QmpGreeting g = greeting;
        return "QmpClient[" + socket + (g == null ? "" : ", QEMU " + g.version()) + (isOpen() ? "" : ", closed") + "]";
    }
}
