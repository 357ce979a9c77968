package org.xenfork.xenstore;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionTimeoutException;
import org.xenfork.wire.EventDispatcher;
import org.xenfork.wire.ProtocolViolationException;

/**
 * Request/reply multiplexing over one transport; knows nothing of what payloads mean.
 *
 * <p>Threading model:
 * <ul>
 * <li>One reader thread owns all reads. It hands {@code XS_WATCH_EVENT} to the
 *     {@link EventDispatcher} (whatever their {@code req_id}: xenstored sends
 *     events with a zeroed header, and an event is never a reply) and completes
 *     the pending request whose {@code req_id} a reply carries. An event the
 *     dispatcher cannot queue (its listener has fallen too far behind) fails the
 *     connection, as a read error does.</li>
 * <li>Any number of caller threads send requests. Each gets a fresh {@code req_id},
 *     registers a future in the pending map, writes its whole frame under a lock
 *     (so frames never interleave), and waits on the future for at most the timeout.</li>
 * <li>On {@code /dev/xen/xenbus} a semaphore allows one outstanding request at a time.</li>
 * <li>Any read failure or protocol error fails every pending request and closes
 *     the connection: after a bad frame the stream cannot be resynchronised.</li>
 * </ul>
 * A reply whose {@code req_id} is not pending (its caller timed out) is discarded.
 * Writes themselves are not timed: a frame is at most 4112 bytes, which the
 * kernel buffers unless xenstored has stopped reading altogether, and
 * {@link #close()} unblocks a stuck write.
 */
final class XsConnection implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(XsConnection.class.getName());

    private final XsTransport transport;
    private final Duration timeout;
    private final EventDispatcher<XsWatchEvent> watches;
    private final ConcurrentMap<Integer, CompletableFuture<XsMessage>> pending = new ConcurrentHashMap<>();
    private final AtomicInteger nextReqId = new AtomicInteger(1);
    private final ReentrantLock writeLock = new ReentrantLock();
    private final Semaphore oneAtATime;
    private final Thread reader;
    /** Why the connection is no longer usable; null while it is. Set once. */
    private volatile IOException failure;

    XsConnection(XsTransport transport, Duration timeout, EventDispatcher<XsWatchEvent> watches) {
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("timeout must be positive: " + timeout);
        }
        this.transport = transport;
        this.timeout = timeout;
        this.watches = watches;
        this.oneAtATime = transport.oneRequestAtATime() ? new Semaphore(1) : null;
        this.reader = new Thread(this::readLoop, "xenstore-reader " + transport.describe());
        this.reader.setDaemon(true);
        this.reader.start();
    }

    Duration timeout() {
        return timeout;
    }

    String describe() {
        return transport.describe();
    }

    /** The peer as this connection's exceptions name it: {@code xenstored on unix socket /run/xenstored/socket}. */
    String peer() {
        return "xenstored on " + transport.describe();
    }

    /**
     * Sends {@code type} with {@code payload} in transaction {@code txId} and returns
     * the reply: a message of the same type, or {@code XS_ERROR} (which the caller
     * turns into a {@link XenstoreException}, knowing what it asked).
     *
     * @param path only for messages
     */
    XsMessage call(XsMessageType type, int txId, byte[] payload, String path) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        checkOpen(type, path);
        if (oneAtATime != null) {
            acquire(type, path, deadline);
        }
        try {
            return callLocked(type, txId, payload, path, deadline);
        } finally {
            if (oneAtATime != null) {
                oneAtATime.release();
            }
        }
    }

    private XsMessage callLocked(XsMessageType type, int txId, byte[] payload, String path, long deadline)
            throws IOException {
        int reqId = nextReqId.getAndIncrement();
        XsMessage request = new XsMessage(type, reqId, txId, payload);
        CompletableFuture<XsMessage> reply = new CompletableFuture<>();
        if (pending.putIfAbsent(reqId, reply) != null) {
            // Only after 2^32 requests with one still unanswered; refuse rather than cross replies.
            throw new IOException("req_id " + Integer.toUnsignedString(reqId) + " still pending after wrap-around");
        }
        try {
            // Registered before checking: fail() either sees this entry or has already set failure.
            checkOpen(type, path);
            send(request, path, deadline);
            XsMessage answer = await(reply, type, path, deadline);
            if (answer.type() != type && answer.type() != XsMessageType.ERROR) {
                ProtocolViolationException e = new ProtocolViolationException(peer(), operation(type, path),
                        "reply to " + type.cName() + " req=" + Integer.toUnsignedString(reqId) + " has type " + answer.type().cName());
                fail(e);
                throw e;
            }
            return answer;
        } finally {
            pending.remove(reqId);
        }
    }

    private void send(XsMessage request, String path, long deadline) throws IOException {
        try {
            if (!writeLock.tryLock(remaining(deadline), TimeUnit.NANOSECONDS)) {
                throw timedOut(request.type(), path);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted before sending " + request.type().cName());
        }
        try {
            transport.write(XsMessageCodec.encode(request));
        } catch (IOException e) {
            // A partial frame may have gone out; nothing after it could be parsed by xenstored.
            fail(e);
            throw closedException(request.type(), path, e);
        } finally {
            writeLock.unlock();
        }
    }

    private XsMessage await(CompletableFuture<XsMessage> reply, XsMessageType type, String path, long deadline)
            throws IOException {
        try {
            return reply.get(remaining(deadline), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw timedOut(type, path);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for the reply to " + type.cName());
        } catch (ExecutionException e) {
            throw closedException(type, path, e.getCause());
        }
    }

    private void acquire(XsMessageType type, String path, long deadline) throws IOException {
        try {
            if (!oneAtATime.tryAcquire(remaining(deadline), TimeUnit.NANOSECONDS)) {
                throw timedOut(type, path);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting to send " + type.cName());
        }
    }

    /** {@code XS_READ /local/domain/7/name}, as exceptions name an operation. */
    static String operation(XsMessageType type, String path) {
        return type.cName() + (path == null ? "" : " " + path);
    }

    private ConnectionTimeoutException timedOut(XsMessageType type, String path) {
        String operation = operation(type, path);
        return new ConnectionTimeoutException(peer(), operation, timeout, operation + ": no reply from " + peer()
                + " within " + timeout.toMillis() + " ms");
    }

    private static long remaining(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }

    private void readLoop() {
        try {
            while (true) {
                XsMessage message = XsMessageCodec.read(transport);
                if (message.type() == XsMessageType.WATCH_EVENT) {
                    watches.deliver(watchEvent(peer(), message), message.length());
                    continue;
                }
                CompletableFuture<XsMessage> reply = pending.remove(message.reqId());
                if (reply == null) {
                    LOG.log(Level.DEBUG, () -> "discarding reply nobody waits for (timed out?): " + message);
                    continue;
                }
                reply.complete(message);
            }
        } catch (IOException | RuntimeException e) {
            fail(e instanceof IOException io ? io : new IOException("xenstore reader failed", e));
        }
    }

    /** {@code path\0token\0}; {@code peer} names xenstored in the error. */
    static XsWatchEvent watchEvent(String peer, XsMessage message) throws ProtocolViolationException {
        var strings = XsPayload.splitStrings(message.payload());
        if (strings.size() < 2) {
            throw new ProtocolViolationException(peer, null, "XS_WATCH_EVENT without path and token: " + message);
        }
        return new XsWatchEvent(strings.get(0), strings.get(1));
    }

    private void checkOpen(XsMessageType type, String path) throws ConnectionClosedException {
        IOException why = failure;
        if (why != null) {
            throw closedException(type, path, why);
        }
    }

    /** What a caller of {@code operation} sees once the connection has failed for {@code why}. */
    private ConnectionClosedException closedException(XsMessageType type, String path, Throwable why) {
        String operation = operation(type, path);
        if (why instanceof ConnectionClosedException closed && closed.getCause() == null) {
            // Nothing went wrong before the close (the client's own, or xenstored's): its words say all.
            return new ConnectionClosedException(peer(), operation, operation + ": " + closed.getMessage());
        }
        return new ConnectionClosedException(peer(), operation, operation + ": xenstore connection ("
                + transport.describe() + ") closed: " + why.getMessage(), why);
    }

    /** Marks the connection dead for {@code why}, closes the transport and fails every pending request. */
    private void fail(IOException why) {
        synchronized (this) {
            if (failure != null) {
                return;
            }
            failure = why;
        }
        try {
            transport.close();
        } catch (IOException e) {
            why.addSuppressed(e);
        }
        pending.values().forEach(f -> f.completeExceptionally(why));
        watches.close();
    }

    /** True until closed or failed. */
    boolean isOpen() {
        return failure == null;
    }

    /** Closes the transport and waits briefly for the reader thread to finish. Idempotent. */
    @Override
    public void close() {
        fail(new ConnectionClosedException(peer(), null, "xenstore connection (" + transport.describe()
                + ") closed by the client"));
        if (Thread.currentThread() != reader) {
            try {
                reader.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
