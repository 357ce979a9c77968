package org.xenfork.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionTimeoutException;
import org.xenfork.wire.EventDispatcher;
import org.xenfork.wire.ProtocolViolationException;

/**
 * The client layer of the pipeline: greeting, ids, reply matching, timeouts, event hand-off, failure.
 *
 * <p>Everything that touches the id tables runs on the channel's event loop, so they need no locks, and
 * ids are allocated in the order commands are written: a command's id is given in the same event-loop task
 * that writes it. Callers on other threads only enqueue tasks and wait on futures.
 *
 * <p>Matching: QEMU echoes each command's {@code id} in its reply and, without out-of-band execution (this
 * client never enables {@code oob}), answers in-band commands in order. A reply completes the pending
 * command with its id. A command that times out leaves {@code pending} for {@code abandoned}: its reply, if
 * it comes, is dropped, never matched to another command. Because replies come in order, a reply to id N
 * also retires every abandoned id below N (QEMU will not answer those any more), which bounds the table. A
 * reply with any other id, or with none, is a protocol error.
 *
 * <p>Failure: a protocol error, QEMU closing the socket, a read error or {@link #closeByClient()} fails
 * every pending command (each with its own exception naming the command), closes the channel, and makes
 * every later command fail at once with a {@link ConnectionClosedException} whose cause is the first failure.
 * Messages still in the pipeline after a failure are dropped: the stream is not trusted any more.
 */
final class QmpSession extends SimpleChannelInboundHandler<QmpMessage> {

    private static final System.Logger LOG = System.getLogger(QmpSession.class.getName());
    private static final byte[] CAPABILITIES_HEAD = "{\"execute\":\"qmp_capabilities\"".getBytes(StandardCharsets.US_ASCII);

    private record Pending(String command, Duration timeout, CompletableFuture<JsonNode> future, ScheduledFuture<?> timer) {
    }

    private final String socket;
    /** The peer every exception of this connection names. */
    private final String peer;
    private final int maxMessageBytes;
    private final int maxInFlight;
    private final EventDispatcher<QmpEvent> events;
    private final CompletableFuture<QmpGreeting> greeting = new CompletableFuture<>();
    /** The reply to {@code qmp_capabilities}, which the event loop sends as soon as the greeting is in. */
    private final CompletableFuture<JsonNode> capabilities = new CompletableFuture<>();
    /** {@link System#nanoTime()} by which the connect must be done: bounds {@code qmp_capabilities}. */
    private final long connectDeadline;
    // Event loop only:
    private final Map<Long, Pending> pending = new HashMap<>();
    private final TreeMap<Long, String> abandoned = new TreeMap<>();
    private long nextId = 1;
    // Any thread:
    private volatile Channel channel;
    private volatile IOException failure;
    private volatile boolean closingByClient;

    QmpSession(String socket, int maxMessageBytes, int maxInFlight, EventDispatcher<QmpEvent> events, long connectDeadline) {
        super(QmpMessage.class);
        this.connectDeadline = connectDeadline;
        this.socket = socket;
        this.peer = "QEMU on " + socket;
        this.maxMessageBytes = maxMessageBytes;
        this.maxInFlight = maxInFlight;
        this.events = events;
    }

    CompletableFuture<QmpGreeting> greeting() {
        return greeting;
    }

    /**
     * Completes with the reply to {@code qmp_capabilities} (enabling nothing), sent by the event loop the
     * moment the greeting arrives — no round trip through the connecting thread — and timed out at the
     * connect's deadline; fails as the greeting does if that fails.
     */
    CompletableFuture<JsonNode> capabilities() {
        return capabilities;
    }

    boolean isOpen() {
        return failure == null;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
    }

    /** Sends {@code head} (a command without id and closing brace) and returns its reply's future. Any thread. */
    CompletableFuture<JsonNode> submit(String command, byte[] head, Duration timeout) {
        CompletableFuture<JsonNode> reply = new CompletableFuture<>();
        IOException why = failure;
        if (why != null) {
            reply.completeExceptionally(cannotSend(command, why));
            return reply;
        }
        try {
            channel.eventLoop().execute(() -> send(command, head, timeout, reply));
        } catch (RejectedExecutionException e) {
            reply.completeExceptionally(new ConnectionClosedException(peer, command, "cannot send " + command + " on " + socket
                    + ": the QMP event loop has shut down (was the client closed?)", e));
        }
        return reply;
    }

    private void send(String command, byte[] head, Duration timeout, CompletableFuture<JsonNode> reply) {
        IOException why = failure;
        if (why != null) {
            reply.completeExceptionally(cannotSend(command, why));
            return;
        }
        int inFlight = pending.size() + abandoned.size();
        if (inFlight >= maxInFlight) {
            reply.completeExceptionally(new IOException("cannot send " + command + " on " + socket + ": " + inFlight
                    + " QMP commands already await replies (QmpOptions.maxInFlight = " + maxInFlight + ")"));
            return;
        }
        long id = nextId++;
        ScheduledFuture<?> timer = channel.eventLoop().schedule(() -> timedOut(id), Texts.nanos(timeout), TimeUnit.NANOSECONDS);
        pending.put(id, new Pending(command, timeout, reply, timer));
        channel.writeAndFlush(new QmpCommand(command, head, id)).addListener(written -> {
            if (!written.isSuccess()) {
                // A write can find the socket gone before channelInactive runs (QEMU killed): that is QEMU closing
                // the connection, and is said as the read side says it, whichever of the two Netty sees first.
                Throwable c = written.cause();
                fail(c instanceof IOException
                        ? new ConnectionClosedException(peer, command, "QEMU closed the QMP connection on " + socket
                                + " (writing " + command + " failed: " + c + ")", c)
                        : new ConnectionClosedException(peer, command, "writing " + command + " to the QMP socket " + socket + " failed ("
                                + c + ")", c));
            }
        });
    }

    private void timedOut(long id) {
        Pending p = pending.remove(id);
        if (p == null) {
            return;
        }
        abandoned.put(id, p.command());
        p.future().completeExceptionally(new ConnectionTimeoutException(peer, p.command(), p.timeout(), "no reply to " + p.command()
                + " from QEMU on " + socket + " within " + Texts.duration(p.timeout())
                + " (QEMU may still carry it out; a late reply will be dropped)"));
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, QmpMessage message) throws IOException {
        if (failure != null) {
            return;
        }
        if (message instanceof QmpMessage.Greeting g) {
            if (!greeting.complete(g.greeting())) {
                throw new ProtocolViolationException(peer, null, "QEMU sent a second QMP greeting");
            }
            long left = Math.max(1, connectDeadline - System.nanoTime());
            send("qmp_capabilities", CAPABILITIES_HEAD, Duration.ofNanos(left), capabilities);
            return;
        }
        if (!greeting.isDone()) {
            throw new ProtocolViolationException(peer, null, "QEMU sent " + (message instanceof QmpMessage.Event ? "an event" : "a reply")
                    + " before its QMP greeting");
        }
        if (message instanceof QmpMessage.Event e) {
            try {
                events.deliver(e.event(), e.lineBytes());
            } catch (IOException overflow) {
                fail(new ConnectionClosedException(peer, null, "the QMP connection on " + socket + " failed: "
                        + overflow.getMessage(), overflow));
            }
            return;
        }
        QmpMessage.Reply reply = (QmpMessage.Reply) message;
        Long id = ourId(reply.id());
        Pending p = id == null ? null : pending.remove(id);
        if (p == null) {
            String late = id == null ? null : abandoned.remove(id);
            if (late != null) {
                LOG.log(Level.DEBUG, () -> "dropping the late reply to " + late + " (id " + id + ") on " + socket);
                return;
            }
            throw new ProtocolViolationException(peer, null, reply.id() == null
                    ? "QEMU sent a reply without an id: " + describe(reply)
                    : "QEMU sent a reply with id " + Texts.json(reply.id()) + ", which matches no command sent: " + describe(reply));
        }
        p.timer().cancel(false);
        abandoned.headMap(id).clear();
        if (reply instanceof QmpMessage.Return r) {
            p.future().complete(r.value());
        } else {
            QmpMessage.Error e = (QmpMessage.Error) reply;
            p.future().completeExceptionally(new QmpErrorException(p.command(), e.errorClass(), e.desc()));
        }
    }

    private static Long ourId(JsonNode id) {
        return id != null && id.isIntegralNumber() && id.canConvertToLong() ? id.longValue() : null;
    }

    private static String describe(QmpMessage.Reply reply) {
        if (reply instanceof QmpMessage.Error e) {
            return "error " + Texts.excerpt(e.errorClass(), 80) + ": " + Texts.excerpt(e.desc(), 200);
        }
        return "return " + Texts.json(((QmpMessage.Return) reply).value());
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        IOException why;
        if (c instanceof ProtocolViolationException p) {
            why = new ProtocolViolationException(peer, null, "QMP protocol error on " + socket + ": " + p.getMessage(), p);
        } else if (c instanceof TooLongFrameException t) {
            // LineBasedFrameDecoder's own words name only numbers; the setting that bounds them is ours to say.
            why = new ProtocolViolationException(peer, null, "QMP protocol error on " + socket + ": QEMU sent a line over "
                    + "the QMP message bound of " + Texts.bytes(maxMessageBytes) + " (QmpOptions.maxMessageBytes)", t);
        } else if (c instanceof IOException io) {
            // Read errors: ECONNRESET when QEMU dies with our bytes unread, and the like.
            why = new ConnectionClosedException(peer, null, "QEMU closed the QMP connection on " + socket + " (" + io.getMessage() + ")", io);
        } else {
            why = new IOException("the QMP client for " + socket + " failed: " + c, c);
        }
        fail(why);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        fail(closingByClient
                ? new ConnectionClosedException(peer, null, "the QMP client for " + socket + " was closed")
                : new ConnectionClosedException(peer, null, "QEMU closed the QMP connection on " + socket));
        super.channelInactive(ctx);
    }

    /** Marks the coming channel close as the client's own. */
    void closeByClient() {
        closingByClient = true;
    }

    /** Event loop only. First failure wins; fails everything pending and closes the channel. */
    private void fail(IOException why) {
        if (failure == null) {
            failure = why;
        }
        IOException first = failure;
        greeting.completeExceptionally(first);
        List<Pending> victims = new ArrayList<>(pending.values());
        pending.clear();
        abandoned.clear();
        for (Pending p : victims) {
            p.timer().cancel(false);
            p.future().completeExceptionally(forCommand(p.command(), first));
        }
        capabilities.completeExceptionally(first); // if the greeting never came, nothing else will
        Channel ch = channel;
        if (ch != null) {
            ch.close();
        }
    }

    private IOException forCommand(String command, IOException why) {
        if (why instanceof ProtocolViolationException) {
            return new ProtocolViolationException(peer, command, command + " failed: " + why.getMessage(), why);
        }
        return new ConnectionClosedException(peer, command, why.getMessage() + " while " + command + " was pending",
                why.getCause());
    }

    private ConnectionClosedException cannotSend(String command, IOException why) {
        return new ConnectionClosedException(peer, command, "cannot send " + command + ": " + why.getMessage(), why);
    }
}
