package org.xenfork.xenstore;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionTimeoutException;
import org.xenfork.wire.EventDispatcher;
import org.xenfork.wire.ProtocolViolationException;

/**
 * A xenstore client speaking the wire protocol of {@code xen/io/xs_wire.h} in
 * plain Java, over xenstored's Unix socket or the {@code /dev/xen/xenbus} device.
 *
 * <pre>{@code
 * try (XenstoreClient xs = XenstoreClient.connect()) {
 *     String home = xs.getDomainPath(7);                       // "/local/domain/7"
 *     Optional<String> name = xs.read(home + "/name");         // empty if absent
 *     xs.write("/local/domain/0/device-model/7/state", "running");
 *     try (XenstoreWatch w = xs.watch(home + "/control/shutdown",
 *             event -> System.out.println(event.path() + " changed"))) {
 *         xs.transaction(tx -> {                               // re-run on EAGAIN
 *             tx.write(home + "/control/shutdown", "poweroff");
 *             return null;
 *         });
 *     }
 * }
 * }</pre>
 *
 * <p><b>Threads.</b> A client is safe for use by many threads at once. One reader
 * thread per client reads every message; replies are matched to requests by
 * {@code req_id} through a map of pending requests, and watch events (whatever
 * their header says) go to a separate dispatch thread that calls the listeners,
 * so a listener may itself use the client. On {@code /dev/xen/xenbus} requests
 * are sent one at a time. Every wait is bounded by the client's timeout
 * ({@link #DEFAULT_TIMEOUT} unless given); a timed-out request throws
 * {@link ConnectionTimeoutException} and leaves the connection usable.
 *
 * <p><b>Failures.</b> A refused request throws {@link XenstoreException} naming
 * the operation, path and xenstored's error (e.g. {@code XS_RM /tool/x: EACCES}).
 * A malformed frame from the peer (unknown type, payload over
 * {@code XENSTORE_PAYLOAD_MAX}, truncated frame) closes the connection: that
 * request and every later one throw {@link ConnectionClosedException}, whose cause
 * is the {@link ProtocolViolationException}; so does losing the connection, and a
 * watch listener falling {@link #WATCH_QUEUE_CAPACITY} events behind. A malformed
 * payload in a well-framed reply throws {@link ProtocolViolationException} for that
 * request only. These name the peer ({@code xenstored on unix socket PATH}) and the
 * operation ({@code XS_READ /local/domain/7/name}). Invalid arguments (paths per {@link XsPath}, oversized
 * payloads, {@code rm("/")}) throw {@link IllegalArgumentException} before anything
 * is sent.
 *
 * <p><b>Closing</b> closes the socket or device, fails outstanding requests with
 * {@link ConnectionClosedException} and stops both threads. xenstored itself drops
 * the connection's watches and open transactions when the connection goes.
 */
public final class XenstoreClient implements XenstoreOperations, AutoCloseable {

    /** Where xenstored listens, in the order libxenstore and Xen's init scripts use. */
    public static final List<Path> DEFAULT_SOCKETS = List.of(
            Path.of("/run/xenstored/socket"), Path.of("/var/run/xenstored/socket"));

    /** The kernel's xenbus device: the way to xenstore where no socket is (a domU, or a stub-domain xenstored). */
    public static final Path XENBUS_DEVICE = Path.of("/dev/xen/xenbus");

    /** libxenstore and the Xen CLI tools honour this variable as the socket path; so do we. */
    public static final String SOCKET_ENV = "XENSTORED_PATH";

    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

    /** Watch events that may wait for the listener before the connection is given up (see {@link XenstoreWatch.Listener}). */
    public static final int WATCH_QUEUE_CAPACITY = 4096;

    /** Attempts {@link #transaction(TransactionBody)} makes before giving up on EAGAIN. */
    public static final int DEFAULT_TRANSACTION_ATTEMPTS = 16;

    /** A transaction's work; it may run several times, so it should only talk to xenstore through {@code tx}. */
    @FunctionalInterface
    public interface TransactionBody<T> {
        T run(XenstoreTransaction tx) throws IOException;
    }

    private final XsConnection connection;
    private final EventDispatcher<XsWatchEvent> watches;
    /** Watch listeners by token: xenstored names the watch an event is for by its token alone. */
    private final ConcurrentMap<String, XenstoreWatch.Listener> listeners = new ConcurrentHashMap<>();
    private final XsRequests requests;
    private final AtomicLong tokens = new AtomicLong();

    private XenstoreClient(XsTransport transport, Duration timeout) {
        this.watches = new EventDispatcher<>("xenstore watch events from " + transport.describe(),
                "xenstore-watch " + transport.describe(), WATCH_QUEUE_CAPACITY, "XenstoreClient.WATCH_QUEUE_CAPACITY",
                // a watch event's payload is bounded by xs_wire.h, so the count alone bounds the bytes
                (long) WATCH_QUEUE_CAPACITY * (XsWire.HEADER_SIZE + XsWire.PAYLOAD_MAX),
                "WATCH_QUEUE_CAPACITY × the largest xenstore message");
        this.watches.subscribe(this::route);
        this.connection = new XsConnection(transport, timeout, watches);
        this.requests = new XsRequests(connection, 0);
    }

    // --- connecting -------------------------------------------------------------------------------------

    /**
     * Connects to the first of {@code $XENSTORED_PATH} (if set), {@link #DEFAULT_SOCKETS}
     * and {@link #XENBUS_DEVICE} that exists.
     */
    public static XenstoreClient connect() throws IOException {
        return connect(DEFAULT_TIMEOUT);
    }

    public static XenstoreClient connect(Duration timeout) throws IOException {
        List<Path> sockets = new ArrayList<>();
        String env = System.getenv(SOCKET_ENV);
        if (env != null && !env.isEmpty()) {
            sockets.add(Path.of(env));
        }
        sockets.addAll(DEFAULT_SOCKETS);
        return connect(sockets, XENBUS_DEVICE, timeout);
    }

    /** The search behind {@link #connect()}, with the candidates given (for tests). */
    static XenstoreClient connect(List<Path> sockets, Path device, Duration timeout) throws IOException {
        for (Path socket : sockets) {
            if (Files.exists(socket)) {
                return connect(socket, timeout);
            }
        }
        if (Files.exists(device)) {
            return openXenbus(device, timeout);
        }
        List<Path> tried = new ArrayList<>(sockets);
        tried.add(device);
        throw new IOException("no xenstore to connect to: none of "
                + tried.stream().map(Path::toString).collect(Collectors.joining(", "))
                + " exists (is xenstored running? is this a Xen domain with the xenfs/xenbus driver loaded?)");
    }

    /** Connects to xenstored's Unix socket at {@code socket}. */
    public static XenstoreClient connect(Path socket) throws IOException {
        return connect(socket, DEFAULT_TIMEOUT);
    }

    public static XenstoreClient connect(Path socket, Duration timeout) throws IOException {
        return new XenstoreClient(UnixSocketTransport.connect(socket), timeout);
    }

    /** Opens the xenbus character device (normally {@link #XENBUS_DEVICE}). */
    public static XenstoreClient openXenbus(Path device, Duration timeout) throws IOException {
        return new XenstoreClient(XenbusDeviceTransport.open(device), timeout);
    }

    /** Over an already open transport (for tests). */
    static XenstoreClient over(XsTransport transport, Duration timeout) {
        return new XenstoreClient(transport, timeout);
    }

    /** E.g. {@code "unix socket /run/xenstored/socket"}. */
    public String describe() {
        return connection.describe();
    }

    public Duration timeout() {
        return connection.timeout();
    }

    public boolean isOpen() {
        return connection.isOpen();
    }

    // --- node operations (outside any transaction) ----------------------------------------------------------

    @Override
    public Optional<String> read(String path) throws IOException {
        return requests.read(path);
    }

    @Override
    public Optional<byte[]> readBytes(String path) throws IOException {
        return requests.readBytes(path);
    }

    @Override
    public void write(String path, String value) throws IOException {
        requests.write(path, value);
    }

    @Override
    public void write(String path, byte[] value) throws IOException {
        requests.write(path, value);
    }

    @Override
    public void mkdir(String path) throws IOException {
        requests.mkdir(path);
    }

    @Override
    public void rm(String path) throws IOException {
        requests.rm(path);
    }

    @Override
    public List<String> directory(String path) throws IOException {
        return requests.directory(path);
    }

    @Override
    public List<XsPermission> getPermissions(String path) throws IOException {
        return requests.getPermissions(path);
    }

    @Override
    public void setPermissions(String path, List<XsPermission> permissions) throws IOException {
        requests.setPermissions(path, permissions);
    }

    /** {@code XS_GET_DOMAIN_PATH}: the home of domain {@code domid}, normally {@code /local/domain/<domid>}. */
    public String getDomainPath(int domid) throws IOException {
        return requests.getDomainPath(domid);
    }

    // --- transactions ------------------------------------------------------------------------------------------

    /** {@code XS_TRANSACTION_START}. Close (abort) or commit what this returns. */
    public XenstoreTransaction startTransaction() throws IOException {
        return new XenstoreTransaction(new XsRequests(connection, requests.transactionStart()));
    }

    /** {@link #transaction(int, TransactionBody)} with {@link #DEFAULT_TRANSACTION_ATTEMPTS}. */
    public <T> T transaction(TransactionBody<T> body) throws IOException {
        return transaction(DEFAULT_TRANSACTION_ATTEMPTS, body);
    }

    /**
     * Runs {@code body} in a transaction and commits it. When xenstored answers
     * {@code EAGAIN} (a conflicting change; normally at commit), the whole
     * transaction, body included, runs again, up to {@code maxAttempts} times in
     * all, as libxl does; then the last EAGAIN is thrown. Any other failure aborts
     * the transaction and is thrown at once.
     */
    public <T> T transaction(int maxAttempts, TransactionBody<T> body) throws IOException {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts must be at least 1: " + maxAttempts);
        }
        XenstoreException lastConflict = null;
        for (int attempt = 1; attempt <= maxAttempts; attempt++) {
            XenstoreTransaction tx = startTransaction();
            T result;
            try {
                result = body.run(tx);
            } catch (XenstoreException e) {
                abandon(tx, e);
                if (e.is(XsError.EAGAIN)) {
                    lastConflict = e;
                    continue;
                }
                throw e;
            } catch (IOException | RuntimeException | Error e) {
                abandon(tx, e);
                throw e;
            }
            try {
                if (tx.isActive()) {
                    tx.commit();
                }
                return result;
            } catch (XenstoreException e) {
                if (!e.is(XsError.EAGAIN)) {
                    throw e;
                }
                lastConflict = e;
            }
        }
        XenstoreException gaveUp = new XenstoreException(lastConflict.operation(), lastConflict.path(),
                lastConflict.errorName(), "gave up after " + maxAttempts + " attempts");
        gaveUp.initCause(lastConflict);
        throw gaveUp;
    }

    /** Aborts after a failed body; a failure to abort is attached to the original failure, not thrown over it. */
    private static void abandon(XenstoreTransaction tx, Throwable failure) {
        if (!tx.isActive()) {
            return;
        }
        try {
            tx.abort();
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    // --- watches -------------------------------------------------------------------------------------------------

    /** {@link #watch(String, String, XenstoreWatch.Listener)} with a token made up for this client. */
    public XenstoreWatch watch(String path, XenstoreWatch.Listener listener) throws IOException {
        return watch(path, "xenfork-" + tokens.incrementAndGet(), listener);
    }

    /**
     * {@code XS_WATCH}: {@code listener} hears of every change to {@code path} or below,
     * starting with the one event xenstored sends on registration. {@code path} may be a
     * node path or a special one ({@code @introduceDomain}, {@code @releaseDomain}).
     * Events are routed by token, so a token may be used by one watch at a time per client.
     */
    public XenstoreWatch watch(String path, String token, XenstoreWatch.Listener listener) throws IOException {
        XsPath.requireWatchPath(path);
        if (token.isEmpty()) {
            throw new IllegalArgumentException("a watch token cannot be empty");
        }
        // Listen before asking: xenstored's first event may arrive right behind the reply.
        if (listeners.putIfAbsent(token, listener) != null) {
            throw new IllegalArgumentException("watch token already in use on this client: " + token);
        }
        try {
            requests.watch(path, token);
        } catch (IOException | RuntimeException e) {
            listeners.remove(token);
            throw e;
        }
        return new XenstoreWatch(this, path, token);
    }

    /**
     * On the dispatcher's thread. An event for a token nobody listens to any more is dropped: after an
     * unwatch, xenstored may still have sent some.
     */
    private void route(XsWatchEvent event) {
        XenstoreWatch.Listener listener = listeners.get(event.token());
        if (listener != null) {
            listener.onEvent(event);
        }
    }

    /** Called by {@link XenstoreWatch#close()}. */
    void unwatch(XenstoreWatch watch) throws IOException {
        listeners.remove(watch.token());
        if (connection.isOpen()) {
            requests.unwatch(watch.path(), watch.token());
        }
    }

    /** Closes the connection (see the class comment). Idempotent. */
    @Override
    public void close() {
        connection.close();
        watches.close();
    }

    @Override
    public String toString() {
        return "XenstoreClient(" + describe() + ")";
    }
}
