package org.xenfork.testfixtures;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An in-memory xenstored on a Unix socket (or any pair of byte channels), for
 * tests. It models what the client relies on, after C xenstored 4.17 and
 * docs/misc/xenstore.txt: a tree of nodes with values and permission lists,
 * permission checks for unprivileged connections, watches that fire on changes
 * (plus the initial event on registration), transactions on a snapshot with
 * conflict detection, and {@code XS_DIRECTORY_PART}.
 *
 * <p>Its framing is written here independently of the client's codec (xenstore module), so a
 * codec bug cannot hide by being symmetric.
 *
 * <p>Fault injection: {@link #inject} queues one-shot faults applied to the next
 * request(s); {@link #failNextCommits} makes commits answer EAGAIN. Every request
 * received is logged ({@link #received()}) with its arrival time.
 */
public final class FakeXenstored implements AutoCloseable {

    public static final int HEADER = 16;
    public static final int PAYLOAD_MAX = 4096;

    // Wire values, written out again here rather than taken from XsMessageType.
    public static final int DIRECTORY = 1, READ = 2, GET_PERMS = 3, WATCH = 4, UNWATCH = 5, TRANSACTION_START = 6,
            TRANSACTION_END = 7, GET_DOMAIN_PATH = 10, WRITE = 11, MKDIR = 12, RM = 13, SET_PERMS = 14,
            WATCH_EVENT = 15, ERROR = 16, DIRECTORY_PART = 22;

    /** A one-shot misbehaviour, applied to the next request that arrives. */
    public sealed interface Fault {
        /** 16 bytes whose type field is no xenstore type, instead of the reply. */
        public record GarbageHeader() implements Fault { }
        /** A reply header announcing {@code len} payload bytes (none follow). */
        public record OversizeLen(long len) implements Fault { }
        /** The reply, written {@code chunk} bytes at a time with a pause between writes. */
        public record SplitReply(int chunk) implements Fault { }
        /** Close the connection instead of replying. */
        public record Disconnect() implements Fault { }
        /** Reply after {@code delay}. */
        public record Delay(Duration delay) implements Fault { }
        /** An XS_WATCH_EVENT carrying the request's own req_id, sent before the reply. */
        public record WatchEventBeforeReply(String path, String token) implements Fault { }
        /** Reply with message type {@code type} instead of the request's. */
        public record WrongType(int type) implements Fault { }
        /** A header announcing the whole reply, half its payload, then close. */
        public record Truncated() implements Fault { }
        /** A well-formed reply carrying a req_id nobody asked for, before the real reply. */
        public record StrayReply() implements Fault { }
        /** An XS_ERROR reply with this payload (an error name, or garbage). */
        public record ErrorReply(String payload) implements Fault { }
        /** A reply of the request's type with this payload instead of the real one. */
        public record ReplacePayload(byte[] payload) implements Fault { }
        /** An XS_WATCH_EVENT with this raw payload, sent before the reply. */
        public record RawEventBeforeReply(byte[] payload) implements Fault { }
    }

    /** One request as received. */
    public record Received(int type, int reqId, int txId, byte[] payload, long nanoTime) {
        public String firstString() {
            int nul = 0;
            while (nul < payload.length && payload[nul] != 0) {
                nul++;
            }
            return new String(payload, 0, nul, StandardCharsets.UTF_8);
        }
    }

    private static final class Node {
        byte[] value;
        List<String> perms;
        long generation;

        Node(byte[] value, List<String> perms, long generation) {
            this.value = value;
            this.perms = perms;
            this.generation = generation;
        }

        Node copy() {
            return new Node(value.clone(), new ArrayList<>(perms), generation);
        }
    }

    private static final class Transaction {
        final long startSeq;
        final TreeMap<String, Node> tree;
        final Set<String> touched = new HashSet<>();
        final Set<String> dirty = new HashSet<>();

        Transaction(long startSeq, TreeMap<String, Node> tree) {
            this.startSeq = startSeq;
            this.tree = tree;
        }
    }

    private record Watch(String path, String token) { }

    /** One client connection: a reader that logs arrivals, a processor that answers in order. */
    private final class Conn {
        final ReadableByteChannel in;
        final WritableByteChannel out;
        final AutoCloseable closer;
        final List<Watch> watches = new CopyOnWriteArrayList<>();
        final Map<Integer, Transaction> transactions = new HashMap<>();
        final BlockingQueue<Received> requests = new LinkedBlockingQueue<>();
        volatile boolean closed;

        Conn(ReadableByteChannel in, WritableByteChannel out, AutoCloseable closer) {
            this.in = in;
            this.out = out;
            this.closer = closer;
        }

        void send(int type, int reqId, int txId, byte[] payload) throws IOException {
            send(frame(type, reqId, txId, payload.length, payload), 0);
        }

        synchronized void send(ByteBuffer frame, int chunk) throws IOException {
            if (closed) {
                return;
            }
            if (chunk <= 0) {
                while (frame.hasRemaining()) {
                    out.write(frame);
                }
                return;
            }
            while (frame.hasRemaining()) {
                ByteBuffer piece = frame.slice();
                piece.limit(Math.min(chunk, piece.remaining()));
                frame.position(frame.position() + piece.remaining());
                while (piece.hasRemaining()) {
                    out.write(piece);
                }
                sleep(2);
            }
        }

        void close() {
            closed = true;
            try {
                closer.close();
            } catch (Exception ignored) {
                // closing anyway
            }
        }
    }

    private final Path socketPath;
    private final ServerSocketChannel server;
    private final List<Conn> connections = new CopyOnWriteArrayList<>();
    private final List<Thread> threads = new CopyOnWriteArrayList<>();
    /** A queued fault and the request type it waits for (0: any). */
    private record Pending(int type, Fault fault) { }

    private final List<Pending> faults = new ArrayList<>();
    private final List<Received> received = Collections.synchronizedList(new ArrayList<>());

    // Store state, guarded by 'this'.
    private final TreeMap<String, Node> tree = new TreeMap<>();
    private final Map<String, Long> lastChange = new HashMap<>();
    private long seq;
    private int nextTxId = 1;
    private int failCommits;
    private volatile int clientDomid;
    private volatile boolean supportDirectoryPart = true;

    private FakeXenstored(Path socketPath, ServerSocketChannel server) {
        this.socketPath = socketPath;
        this.server = server;
        tree.put("/", new Node(new byte[0], new ArrayList<>(List.of("n0")), 0));
    }

    /** Listens on {@code dir/socket}. */
    public static FakeXenstored start(Path dir) throws IOException {
        Path socket = dir.resolve("socket");
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        FakeXenstored fake = new FakeXenstored(socket, server);
        fake.thread("fake-xenstored-accept", fake::acceptLoop);
        return fake;
    }

    /** No socket: serve one connection over the given channels (a FIFO pair standing in for /dev/xen/xenbus). */
    public static FakeXenstored serving(ReadableByteChannel in, WritableByteChannel out, AutoCloseable closer) {
        FakeXenstored fake = new FakeXenstored(null, null);
        fake.serve(new FakeXenstored.ConnHolder(in, out, closer));
        return fake;
    }

    private record ConnHolder(ReadableByteChannel in, WritableByteChannel out, AutoCloseable closer) { }

    public Path socketPath() {
        return socketPath;
    }

    // --- test controls ------------------------------------------------------------------------------

    /** Faults for the next requests, one each, whatever their type or connection. */
    public void inject(Fault... fs) {
        injectOn(0, fs);
    }

    /** Faults for the next requests of {@code type} only (other connections' requests do not use them up). */
    public void injectOn(int type, Fault... fs) {
        synchronized (faults) {
            Arrays.stream(fs).forEach(f -> faults.add(new Pending(type, f)));
        }
    }

    private Fault nextFault(int type) {
        synchronized (faults) {
            for (Iterator<Pending> it = faults.iterator(); it.hasNext();) {
                Pending p = it.next();
                if (p.type == 0 || p.type == type) {
                    it.remove();
                    return p.fault;
                }
            }
            return null;
        }
    }

    public synchronized void failNextCommits(int n) {
        failCommits = n;
    }

    /** Requests from now on are treated as coming from this domain (0 = privileged dom0). */
    public void actAsDomain(int domid) {
        clientDomid = domid;
    }

    /** Like an old xenstored: answer XS_DIRECTORY_PART with ENOSYS (E2BIG stays the client's answer). */
    public void disableDirectoryPart() {
        supportDirectoryPart = false;
    }

    public List<Received> received() {
        synchronized (received) {
            return List.copyOf(received);
        }
    }

    public List<Received> received(int type) {
        return received().stream().filter(r -> r.type == type).toList();
    }

    public int connectionCount() {
        return (int) connections.stream().filter(c -> !c.closed).count();
    }

    /** Direct access to the store, bypassing the protocol. */
    public synchronized void put(String path, String value, String... perms) {
        Node node = ensure(tree, path);
        node.value = value.getBytes(StandardCharsets.UTF_8);
        if (perms.length > 0) {
            node.perms = new ArrayList<>(List.of(perms));
        }
        changed(path);
    }

    public synchronized String get(String path) {
        Node n = tree.get(path);
        return n == null ? null : new String(n.value, StandardCharsets.UTF_8);
    }

    public synchronized List<String> perms(String path) {
        Node n = tree.get(path);
        return n == null ? null : List.copyOf(n.perms);
    }

    /** Fires watches on {@code path} as a change would (e.g. a special path such as @releaseDomain). */
    public void fire(String path) {
        fireWatches(Set.of(path), false);
    }

    // --- connections ---------------------------------------------------------------------------------

    private void acceptLoop() {
        while (server.isOpen()) {
            try {
                SocketChannel ch = server.accept();
                serve(new ConnHolder(ch, ch, ch));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(ConnHolder h) {
        Conn conn = new Conn(h.in(), h.out(), h.closer());
        connections.add(conn);
        thread("fake-xenstored-read", () -> readLoop(conn));
        thread("fake-xenstored-process", () -> processLoop(conn));
    }

    private void readLoop(Conn conn) {
        try {
            while (!conn.closed) {
                ByteBuffer header = ByteBuffer.allocate(HEADER).order(ByteOrder.nativeOrder());
                if (!readFully(conn.in, header)) {
                    break;
                }
                header.flip();
                int type = header.getInt();
                int reqId = header.getInt();
                int txId = header.getInt();
                int len = header.getInt();
                if (len < 0 || len > PAYLOAD_MAX) {
                    // xenstored drops a connection that sends too much.
                    break;
                }
                ByteBuffer payload = ByteBuffer.allocate(len);
                if (!readFully(conn.in, payload)) {
                    break;
                }
                Received r = new Received(type, reqId, txId, payload.array(), System.nanoTime());
                received.add(r);
                conn.requests.add(r);
            }
        } catch (IOException e) {
            // connection gone
        }
        conn.requests.add(new Received(-1, 0, 0, new byte[0], 0)); // poison: stop processing
    }

    private void processLoop(Conn conn) {
        try {
            while (true) {
                Received r = conn.requests.take();
                if (r.type < 0) {
                    break;
                }
                Fault fault = nextFault(r.type);
                if (!handleWithFault(conn, r, fault)) {
                    break;
                }
            }
        } catch (InterruptedException | IOException e) {
            // closing
        } finally {
            conn.close();
            connections.remove(conn);
        }
    }

    /** False if the connection must close. */
    private boolean handleWithFault(Conn conn, Received r, Fault fault) throws IOException {
        if (fault instanceof Fault.Disconnect) {
            return false;
        }
        if (fault instanceof Fault.GarbageHeader) {
            conn.send(frame(0xdeadbeef, r.reqId, 0, 0, new byte[0]), 0);
            return true;
        }
        if (fault instanceof Fault.OversizeLen o) {
            conn.send(frame(r.type, r.reqId, 0, (int) o.len(), new byte[0]), 0);
            return true;
        }
        if (fault instanceof Fault.Delay d) {
            sleep(d.delay().toMillis());
        }
        if (fault instanceof Fault.WatchEventBeforeReply w) {
            conn.send(WATCH_EVENT, r.reqId, 0, strings(w.path(), w.token()));
        }
        if (fault instanceof Fault.StrayReply) {
            conn.send(r.type, r.reqId + 1_000_000, 0, strings("stray"));
        }
        if (fault instanceof Fault.RawEventBeforeReply e) {
            conn.send(WATCH_EVENT, 0, 0, e.payload());
        }
        if (fault instanceof Fault.ErrorReply e) {
            conn.send(ERROR, r.reqId, r.txId, strings(e.payload()));
            return true;
        }
        if (fault instanceof Fault.ReplacePayload e) {
            conn.send(r.type, r.reqId, r.txId, e.payload());
            return true;
        }
        Reply reply = handle(conn, r);
        int type = fault instanceof Fault.WrongType w ? w.type() : reply.type;
        ByteBuffer frame = frame(type, r.reqId, r.txId, reply.payload.length, reply.payload);
        if (fault instanceof Fault.Truncated) {
            frame.limit(HEADER + reply.payload.length / 2);
            conn.send(frame, 0);
            return false;
        }
        conn.send(frame, fault instanceof Fault.SplitReply s ? s.chunk() : 0);
        reply.after.run();
        return true;
    }

    private record Reply(int type, byte[] payload, Runnable after) {
        static Reply of(int type, byte[] payload) {
            return new Reply(type, payload, () -> { });
        }
    }

    // --- the store ------------------------------------------------------------------------------------

    private static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;
        final String error;

        Refused(String error) {
            super(error, null, false, false);
            this.error = error;
        }
    }

    private Reply handle(Conn conn, Received r) {
        try {
            return dispatch(conn, r);
        } catch (Refused e) {
            return Reply.of(ERROR, strings(e.error));
        }
    }

    private Reply dispatch(Conn conn, Received r) throws Refused {
        List<String> args = splitStrings(r.payload);
        switch (r.type) {
            case READ: {
                String path = absolute(arg(args, 0));
                synchronized (this) {
                    Node node = readable(view(conn, r.txId, path), path, r.txId, conn);
                    return Reply.of(READ, node.value.clone());
                }
            }
            case DIRECTORY: {
                String path = absolute(arg(args, 0));
                synchronized (this) {
                    TreeMap<String, Node> t = view(conn, r.txId, path);
                    readable(t, path, r.txId, conn);
                    byte[] list = childList(t, path);
                    if (list.length > PAYLOAD_MAX) {
                        throw new Refused("E2BIG");
                    }
                    return Reply.of(DIRECTORY, list);
                }
            }
            case DIRECTORY_PART: {
                if (!supportDirectoryPart) {
                    throw new Refused("ENOSYS");
                }
                String path = absolute(arg(args, 0));
                int offset = Integer.parseInt(arg(args, 1));
                synchronized (this) {
                    TreeMap<String, Node> t = view(conn, r.txId, path);
                    Node node = readable(t, path, r.txId, conn);
                    return Reply.of(DIRECTORY_PART, directoryPart(childList(t, path), offset, node.generation));
                }
            }
            case GET_PERMS: {
                String path = absolute(arg(args, 0));
                synchronized (this) {
                    Node node = readable(view(conn, r.txId, path), path, r.txId, conn);
                    return Reply.of(GET_PERMS, strings(node.perms.toArray(String[]::new)));
                }
            }
            case WRITE: {
                int nul = indexOfNul(r.payload);
                if (nul < 0) {
                    throw new Refused("EINVAL");
                }
                String path = absolute(new String(r.payload, 0, nul, StandardCharsets.UTF_8));
                byte[] value = Arrays.copyOfRange(r.payload, nul + 1, r.payload.length);
                synchronized (this) {
                    Transaction tx = tx(conn, r.txId);
                    TreeMap<String, Node> t = tx == null ? tree : tx.tree;
                    Set<String> created = create(t, path, clientDomid);
                    Node node = t.get(path);
                    if (created.isEmpty()) {
                        checkAccess(node, 'w', clientDomid);
                    }
                    node.value = value;
                    return changedBy(WRITE, tx, created, path, false);
                }
            }
            case MKDIR: {
                String path = absolute(arg(args, 0));
                synchronized (this) {
                    Transaction tx = tx(conn, r.txId);
                    TreeMap<String, Node> t = tx == null ? tree : tx.tree;
                    if (t.containsKey(path)) {
                        return Reply.of(MKDIR, strings("OK"));
                    }
                    return changedBy(MKDIR, tx, create(t, path, clientDomid), path, false);
                }
            }
            case RM: {
                String path = absolute(arg(args, 0));
                if (path.equals("/")) {
                    throw new Refused("EINVAL");
                }
                synchronized (this) {
                    Transaction tx = tx(conn, r.txId);
                    TreeMap<String, Node> t = tx == null ? tree : tx.tree;
                    Node node = t.get(path);
                    if (node == null) {
                        // C xenstored: removing a missing node is fine if its parent exists.
                        if (t.containsKey(parent(path))) {
                            return Reply.of(RM, strings("OK"));
                        }
                        throw new Refused("ENOENT");
                    }
                    checkAccess(node, 'w', clientDomid);
                    // Keys below "path/" sort before "path0" ('/' is 0x2f, '0' is 0x30).
                    Set<String> removed = new HashSet<>(t.subMap(path + "/", true, path + "0", false).keySet());
                    removed.add(path);
                    removed.forEach(t::remove);
                    t.get(parent(path)).generation = ++seq;
                    return changedBy(RM, tx, removed, path, true);
                }
            }
            case SET_PERMS: {
                String path = absolute(arg(args, 0));
                List<String> perms = args.subList(1, args.size());
                if (perms.isEmpty() || !perms.stream().allMatch(p -> p.matches("[nrwb][0-9]+"))) {
                    throw new Refused("EINVAL");
                }
                synchronized (this) {
                    Transaction tx = tx(conn, r.txId);
                    TreeMap<String, Node> t = tx == null ? tree : tx.tree;
                    Node node = t.get(path);
                    if (node == null) {
                        throw new Refused("ENOENT");
                    }
                    if (clientDomid != 0 && !node.perms.get(0).substring(1).equals(Integer.toString(clientDomid))) {
                        throw new Refused("EACCES");
                    }
                    node.perms = new ArrayList<>(perms);
                    return changedBy(SET_PERMS, tx, Set.of(), path, false);
                }
            }
            case GET_DOMAIN_PATH: {
                String domid = arg(args, 0);
                if (!domid.matches("[0-9]{1,5}")) {
                    throw new Refused("EINVAL");
                }
                return Reply.of(GET_DOMAIN_PATH, strings("/local/domain/" + Integer.parseInt(domid)));
            }
            case TRANSACTION_START: {
                synchronized (this) {
                    TreeMap<String, Node> copy = new TreeMap<>();
                    tree.forEach((k, v) -> copy.put(k, v.copy()));
                    int id = nextTxId++;
                    conn.transactions.put(id, new Transaction(seq, copy));
                    return Reply.of(TRANSACTION_START, strings(Integer.toString(id)));
                }
            }
            case TRANSACTION_END: {
                String how = arg(args, 0);
                synchronized (this) {
                    Transaction tx = conn.transactions.remove(r.txId);
                    if (tx == null) {
                        throw new Refused("ENOENT");
                    }
                    if (how.equals("F")) {
                        return Reply.of(TRANSACTION_END, strings("OK"));
                    }
                    if (!how.equals("T")) {
                        throw new Refused("EINVAL");
                    }
                    if (failCommits > 0) {
                        failCommits--;
                        throw new Refused("EAGAIN");
                    }
                    for (String p : tx.touched) {
                        if (lastChange.getOrDefault(p, -1L) > tx.startSeq) {
                            throw new Refused("EAGAIN");
                        }
                    }
                    for (String p : tx.dirty) {
                        Node n = tx.tree.get(p);
                        if (n == null) {
                            tree.remove(p);
                        } else {
                            tree.put(p, n.copy());
                        }
                        changed(p);
                    }
                    fireWatches(tx.dirty, false);
                    return Reply.of(TRANSACTION_END, strings("OK"));
                }
            }
            case WATCH: {
                String path = arg(args, 0);
                String token = arg(args, 1);
                Watch w = new Watch(path, token);
                if (conn.watches.contains(w)) {
                    throw new Refused("EEXIST");
                }
                conn.watches.add(w);
                // Registration fires once, right behind the reply (xenstored_watch.c: "We fire once up front").
                return new Reply(WATCH, strings("OK"), () -> sendEvent(conn, path, token));
            }
            case UNWATCH: {
                if (!conn.watches.remove(new Watch(arg(args, 0), arg(args, 1)))) {
                    throw new Refused("ENOENT");
                }
                return Reply.of(UNWATCH, strings("OK"));
            }
            default:
                throw new Refused("EINVAL");
        }
    }

    /**
     * Records a change of {@code path} and {@code others} (nodes created, or removed with it) and
     * fires watches (outside a transaction) before the ack is sent, as C xenstored's do_write does:
     * the writer's own watch event precedes the reply. {@code recurse}: watches below {@code path}
     * fire too (a removal).
     */
    private Reply changedBy(int type, Transaction tx, Set<String> others, String path, boolean recurse) {
        Set<String> changedPaths = new HashSet<>(others);
        changedPaths.add(path);
        if (tx != null) {
            tx.touched.addAll(changedPaths);
            tx.dirty.addAll(changedPaths);
        } else {
            changedPaths.forEach(this::changed);
            fireWatches(Set.of(path), recurse);
        }
        return Reply.of(type, strings("OK"));
    }

    private Transaction tx(Conn conn, int txId) throws Refused {
        if (txId == 0) {
            return null;
        }
        Transaction tx = conn.transactions.get(txId);
        if (tx == null) {
            throw new Refused("ENOENT");
        }
        return tx;
    }

    private TreeMap<String, Node> view(Conn conn, int txId, String path) throws Refused {
        Transaction tx = tx(conn, txId);
        if (tx == null) {
            return tree;
        }
        tx.touched.add(path);
        return tx.tree;
    }

    private Node readable(TreeMap<String, Node> t, String path, int txId, Conn conn) throws Refused {
        Node node = t.get(path);
        if (node == null) {
            throw new Refused("ENOENT");
        }
        checkAccess(node, 'r', clientDomid);
        return node;
    }

    /** Xen's rule: dom0 and the owner may do anything; else the domain's own entry, else the owner entry's access. */
    private static void checkAccess(Node node, char wanted, int dom) throws Refused {
        if (dom == 0) {
            return;
        }
        String owner = node.perms.get(0);
        if (owner.substring(1).equals(Integer.toString(dom))) {
            return;
        }
        char access = owner.charAt(0);
        for (String p : node.perms.subList(1, node.perms.size())) {
            if (p.substring(1).equals(Integer.toString(dom))) {
                access = p.charAt(0);
            }
        }
        if (access != 'b' && access != wanted) {
            throw new Refused("EACCES");
        }
    }

    /** Creates {@code path} and missing parents; new nodes inherit the parent's permissions, owned by the creator. */
    private Set<String> create(TreeMap<String, Node> t, String path, int domid) throws Refused {
        List<String> missing = new ArrayList<>();
        String p = path;
        while (!t.containsKey(p)) {
            missing.add(0, p);
            p = parent(p);
        }
        if (!missing.isEmpty()) {
            checkAccess(t.get(p), 'w', domid);
        }
        for (String m : missing) {
            List<String> perms = new ArrayList<>(t.get(parent(m)).perms);
            if (domid != 0) {
                perms.set(0, perms.get(0).charAt(0) + Integer.toString(domid));
            }
            t.put(m, new Node(new byte[0], perms, ++seq));
            t.get(parent(m)).generation = ++seq;
        }
        return new HashSet<>(missing);
    }

    /** Creates as dom0 would, for {@link #put}. */
    private Node ensure(TreeMap<String, Node> t, String path) {
        try {
            create(t, path, 0);
        } catch (Refused e) {
            throw new IllegalStateException(e);
        }
        return t.get(path);
    }

    private void changed(String path) {
        lastChange.put(path, ++seq);
        Node n = tree.get(path);
        if (n != null) {
            n.generation = seq;
        }
    }

    private static byte[] childList(TreeMap<String, Node> t, String path) {
        String prefix = path.equals("/") ? "/" : path + "/";
        StringBuilder sb = new StringBuilder();
        for (String key : t.tailMap(prefix, false).keySet()) {
            if (!key.startsWith(prefix)) {
                break;
            }
            String rest = key.substring(prefix.length());
            if (!rest.isEmpty() && rest.indexOf('/') < 0) {
                sb.append(rest).append('\0');
            }
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** As C xenstored's send_directory_part: "gen\0" + a piece of the list; the last piece gets an extra NUL. */
    private static byte[] directoryPart(byte[] children, int offset, long generation) {
        byte[] gen = strings(Long.toHexString(generation));
        if (offset >= children.length) {
            return concat(gen, new byte[] {0});
        }
        int max = PAYLOAD_MAX - gen.length - 1;
        int len = 0;
        while (offset + len < children.length) {
            int end = offset + len;
            while (children[end] != 0) {
                end++;
            }
            int childLen = end - (offset + len);
            if (len + childLen >= max) {
                break;
            }
            len += childLen + 1;
        }
        byte[] piece = Arrays.copyOfRange(children, offset, offset + len);
        if (offset + len == children.length) {
            piece = concat(piece, new byte[] {0});
        }
        return concat(gen, piece);
    }

    /** Events for watches on {@code paths} or above; with {@code recurse}, also for watches below (rm). */
    private void fireWatches(Set<String> paths, boolean recurse) {
        for (Conn c : connections) {
            for (Watch w : c.watches) {
                String watched = w.path.startsWith("@") ? w.path : absolute(w.path);
                for (String p : paths) {
                    boolean match = p.equals(watched) || isBelow(p, watched) || (recurse && isBelow(watched, p));
                    if (match) {
                        String shown = w.path.startsWith("/") || w.path.startsWith("@") ? p : relative(p);
                        sendEvent(c, shown, w.token);
                    }
                }
            }
        }
    }

    private void sendEvent(Conn c, String path, String token) {
        try {
            // xenstored zeroes the header of an event: req_id 0, tx_id 0.
            c.send(WATCH_EVENT, 0, 0, strings(path, token));
        } catch (IOException e) {
            c.close();
        }
    }

    private static boolean isBelow(String child, String parent) {
        return parent.equals("/") ? child.startsWith("/") && !child.equals("/") : child.startsWith(parent + "/");
    }

    private String absolute(String path) {
        if (path.startsWith("/")) {
            return path;
        }
        return "/local/domain/" + clientDomid + "/" + path;
    }

    private String relative(String path) {
        String home = "/local/domain/" + clientDomid + "/";
        return path.startsWith(home) ? path.substring(home.length()) : path;
    }

    private static String parent(String path) {
        int slash = path.lastIndexOf('/');
        return slash <= 0 ? "/" : path.substring(0, slash);
    }

    private static String arg(List<String> args, int i) throws Refused {
        if (i >= args.size()) {
            throw new Refused("EINVAL");
        }
        return args.get(i);
    }

    // --- framing, independent of the client's codec ----------------------------------------------------

    public static ByteBuffer frame(int type, int reqId, int txId, int len, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(HEADER + payload.length).order(ByteOrder.nativeOrder());
        b.putInt(type).putInt(reqId).putInt(txId).putInt(len).put(payload);
        return b.flip();
    }

    public static byte[] strings(String... s) {
        StringBuilder sb = new StringBuilder();
        for (String x : s) {
            sb.append(x).append('\0');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    public static List<String> splitStrings(byte[] payload) {
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < payload.length; i++) {
            if (payload[i] == 0) {
                out.add(new String(payload, start, i - start, StandardCharsets.UTF_8));
                start = i + 1;
            }
        }
        return out;
    }

    private static int indexOfNul(byte[] b) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] == 0) {
                return i;
            }
        }
        return -1;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    private static boolean readFully(ReadableByteChannel in, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (in.read(buf) < 0) {
                return false;
            }
        }
        return true;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void thread(String name, Runnable body) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        threads.add(t);
        t.start();
    }

    /** Drops every client connection (the server keeps listening). */
    public void disconnectAll() {
        connections.forEach(Conn::close);
    }

    @Override
    public void close() throws IOException {
        if (server != null) {
            server.close();
        }
        connections.forEach(Conn::close);
        for (Iterator<Thread> it = threads.iterator(); it.hasNext();) {
            Thread t = it.next();
            t.interrupt();
            try {
                t.join(TimeUnit.SECONDS.toMillis(2));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (socketPath != null) {
            Files.deleteIfExists(socketPath);
        }
    }
}
