package org.xenfork.testfixtures;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * A scripted QMP server on a Unix socket, for tests: it speaks QMP as QEMU 7.2 does (greeting, capabilities
 * negotiation, CRLF-terminated replies echoing the command's id, events with timestamps, the error JSON
 * QEMU 7.2.22 sends; docs/QMP.md) and misbehaves on request.
 *
 * <p>Plain {@code java.nio} and Jackson's streaming parser, written independently of the client's Netty
 * codecs so that a codec bug cannot hide by being symmetric. Like QEMU, it reads commands with a streaming
 * JSON parser (no framing needed) and answers them one at a time, in order; unlike QEMU it serves any number
 * of connections at once, each with its own run state.
 *
 * <p>Built-in commands: {@code qmp_capabilities}, {@code query-status}, {@code stop}, {@code cont} (with
 * STOP/RESUME events before the reply, as QEMU), {@code query-version}, {@code quit},
 * {@code xen-save-devices-state} (checks its arguments as QEMU does and writes a minimal QEVM v3 file:
 * magic, version, EOF), {@code x-echo} (returns its arguments). {@link #handle} adds or replaces commands.
 *
 * <p>Fault injection: {@link #greeting(String)} changes or suppresses the greeting; {@link #inject} queues
 * one-shot faults for the next command (of a given name, or any); {@link #sendEvent} sends an event at any
 * time between replies. Every command received is logged ({@link #received()}). {@link #script} makes it a
 * hostile QEMU that says what it is given whatever the client sends.
 */
public final class FakeQmpServer implements AutoCloseable {

    /** The greeting Debian's QEMU 7.2.22 ({@code 1:7.2+dfsg-7+deb12u18+b3}) sends, byte for byte, as captured from it. */
    public static final String QEMU_7_2_GREETING = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
            + "\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A one-shot misbehaviour, applied to the next matching command. */
    public sealed interface Fault {
        /** Never reply to the command (later commands are still answered). */
        record NoReply() implements Fault { }
        /** Reply after {@code delay}; like QEMU, later commands wait behind it. */
        record Delay(Duration delay) implements Fault { }
        /** The reply written {@code chunk} bytes at a time with {@code pause} between writes. */
        record SplitReply(int chunk, Duration pause) implements Fault { }
        /** Close the connection instead of replying. */
        record Disconnect() implements Fault { }
        /** These bytes instead of the reply (sent as they are; add a line end yourself if wanted). */
        record Garbage(byte[] bytes) implements Fault { }
        /** This line (CRLF appended) instead of the reply; e.g. a reply with a wrong id or none. */
        record RawReply(String line) implements Fault { }
        /** These events (from {@link #event}) before the reply. */
        record EventsBefore(List<ObjectNode> events) implements Fault { }
        /** These events right after the reply. */
        record EventsAfter(List<ObjectNode> events) implements Fault { }
        /** The reply padded with a {@code "pad"} member so that the line is {@code bytes} long (without CRLF). */
        record Oversized(int bytes) implements Fault { }
        /** A well-formed reply to an id never sent, then the real reply. */
        record StrayReplyBefore() implements Fault { }
        /**
         * Before the reply, an event that carries the command's own {@code id} and a {@code return} member
         * (a client that classified by {@code id} or {@code return} before {@code event} would take it for the reply).
         */
        record EventCarryingId(String name) implements Fault { }
        /** An error reply of this class and desc instead of the real one. */
        record ErrorReply(String errorClass, String desc) implements Fault { }
    }

    /** One command as received, with its arrival time. */
    public record Received(String command, JsonNode arguments, JsonNode id, JsonNode raw, long nanoTime, int connection) {
    }

    private record Queued(String command, Fault fault) { }

    private final class Conn {
        final SocketChannel channel;
        final int number;
        volatile String status = "prelaunch";
        volatile boolean negotiated;

        Conn(SocketChannel channel, int number) {
            this.channel = channel;
            this.number = number;
        }

        synchronized void write(byte[] bytes) throws IOException {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                channel.write(b);
            }
        }

        void writeLine(JsonNode node) throws IOException {
            writeLine(node.toString());
        }

        void writeLine(String line) throws IOException {
            write((line + "\r\n").getBytes(StandardCharsets.UTF_8));
        }

        void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    private final Path socket;
    private final ServerSocketChannel server;
    private final Thread acceptor;
    private final List<Thread> threads = new CopyOnWriteArrayList<>();
    private final List<Conn> connections = new CopyOnWriteArrayList<>();
    private final List<Queued> faults = new ArrayList<>(); // guarded by itself
    private final List<Received> received = Collections.synchronizedList(new ArrayList<>());
    private final Map<String, Function<JsonNode, JsonNode>> handlers = new ConcurrentHashMap<>();
    private volatile String greeting = QEMU_7_2_GREETING;
    private volatile byte[] rawGreeting;
    private volatile List<byte[]> script;
    private volatile boolean closed;

    private FakeQmpServer(Path socket, ServerSocketChannel server) {
        this.socket = socket;
        this.server = server;
        this.acceptor = new Thread(this::acceptLoop, "fake-qmp-accept " + socket);
        this.acceptor.setDaemon(true);
    }

    /** Listens on {@code socket} (replacing a stale socket file). */
    public static FakeQmpServer start(Path socket) throws IOException {
        Files.deleteIfExists(socket);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        FakeQmpServer fake = new FakeQmpServer(socket, server);
        fake.acceptor.start();
        return fake;
    }

    public Path socket() {
        return socket;
    }

    /** The greeting line for connections accepted from now on (CRLF appended); null: send none at all. */
    public FakeQmpServer greeting(String line) {
        this.greeting = line;
        this.rawGreeting = null;
        return this;
    }

    /** Raw bytes instead of a greeting for connections accepted from now on (e.g. garbage). */
    public FakeQmpServer greetingBytes(byte[] bytes) {
        this.rawGreeting = bytes.clone();
        return this;
    }

    /**
     * A hostile QEMU for connections accepted from now on (null: back to QMP), in place of the greeting and of
     * every reply: the first segment at once, each next one when the client has sent one more command — or when
     * it has sent none for {@link #SCRIPT_PATIENCE}, since a client whose reply the script left out waits rather
     * than sends — and after the last one the end of the stream. The client's commands themselves are read and
     * ignored until it hangs up. A client numbers its commands 1, 2, … ({@code qmp_capabilities} first), which is
     * how a script can answer them.
     */
    public FakeQmpServer script(List<byte[]> segments) {
        this.script = segments == null ? null : segments.stream().map(byte[]::clone).toList();
        return this;
    }

    /** How long a {@link #script} waits for the client's next command before it goes on without it. */
    public static final Duration SCRIPT_PATIENCE = Duration.ofMillis(100);

    /** Adds or replaces a command: {@code handler} gets the arguments (an empty object if none) and returns the {@code return} value. */
    public FakeQmpServer handle(String command, Function<JsonNode, JsonNode> handler) {
        handlers.put(command, handler);
        return this;
    }

    /** Queues {@code fault} for the next command named {@code command} (null: the next command of any name). */
    public FakeQmpServer inject(String command, Fault fault) {
        synchronized (faults) {
            faults.add(new Queued(command, fault));
        }
        return this;
    }

    /** An event message {@code {"event": name, "data": data, "timestamp": …}} (data may be null: none). */
    public static ObjectNode event(String name, ObjectNode data) {
        ObjectNode e = JsonNodeFactory.instance.objectNode();
        e.put("event", name);
        if (data != null) {
            e.set("data", data);
        }
        Instant now = Instant.now();
        ObjectNode ts = e.putObject("timestamp");
        ts.put("seconds", now.getEpochSecond());
        ts.put("microseconds", now.getNano() / 1000);
        return e;
    }

    /**
     * Sends an event on every open connection now (between replies: writes are whole lines). A connection
     * that closes meanwhile (the client hung up, e.g. after a protocol error) is skipped.
     *
     * @return the number of connections the event was written to
     */
    public int sendEvent(String name, ObjectNode data) {
        int sent = 0;
        for (Conn c : connections) {
            if (!c.channel.isOpen()) {
                continue;
            }
            try {
                c.writeLine(event(name, data));
                sent++;
            } catch (IOException closedMeanwhile) {
                // the client is gone; nothing to deliver to
            }
        }
        return sent;
    }

    /** Commands received so far, in order. */
    public List<Received> received() {
        synchronized (received) {
            return List.copyOf(received);
        }
    }

    /** Names of the commands received so far, in order. */
    public List<String> receivedCommands() {
        return received().stream().map(Received::command).toList();
    }

    /** Connections accepted so far. */
    public int connectionCount() {
        return connections.size();
    }

    /** Connections currently open (on the server's side). */
    public int openConnections() {
        return (int) connections.stream().filter(c -> c.channel.isOpen()).count();
    }

    /** Waits up to {@code timeout} until the server has no open connection (the client closed its end). */
    public boolean awaitNoOpenConnection(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (openConnections() > 0) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(5);
        }
        return true;
    }

    private void acceptLoop() {
        int n = 0;
        while (!closed) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            Conn c = new Conn(ch, ++n);
            connections.add(c);
            Thread t = new Thread(() -> serve(c), "fake-qmp-conn-" + n + " " + socket);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
    }

    private void serve(Conn c) {
        try {
            List<byte[]> hostile = script;
            if (hostile != null) {
                play(c, hostile);
                return;
            }
            byte[] raw = rawGreeting;
            String line = greeting;
            if (raw != null) {
                c.write(raw);
            } else if (line != null) {
                c.writeLine(line);
            }
            InputStream in = Channels.newInputStream(c.channel);
            JsonParser parser = JSON.getFactory().createParser(in);
            try (MappingIterator<JsonNode> commands = JSON.readerFor(JsonNode.class).readValues(parser)) {
                while (commands.hasNextValue()) {
                    JsonNode command = commands.nextValue();
                    if (!answer(c, command)) {
                        return;
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // The client went away, or sent something a real QEMU would choke on: drop the connection.
        } finally {
            c.close();
        }
    }

    /** {@link #script}: the segments, each after one more command (or the patience) and then the end of the stream. */
    private void play(Conn c, List<byte[]> segments) throws IOException {
        java.util.concurrent.Semaphore commands = new java.util.concurrent.Semaphore(0);
        Thread reader = new Thread(() -> {
            try (MappingIterator<JsonNode> in = JSON.readerFor(JsonNode.class)
                    .readValues(JSON.getFactory().createParser(Channels.newInputStream(c.channel)))) {
                while (in.hasNextValue()) {
                    in.nextValue();
                    commands.release();
                }
            } catch (IOException | RuntimeException e) {
                // the client hung up, or sent what is no command: the script goes on regardless
            }
        }, "fake-qmp-script-reader " + socket);
        reader.setDaemon(true);
        reader.start();
        try {
            for (int i = 0; i < segments.size(); i++) {
                if (i > 0) {
                    commands.tryAcquire(SCRIPT_PATIENCE.toNanos(), TimeUnit.NANOSECONDS);
                }
                c.write(segments.get(i));
            }
            c.channel.shutdownOutput();
            reader.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Answers one command; false when the connection is to be dropped. */
    private boolean answer(Conn c, JsonNode command) throws IOException {
        JsonNode id = command.get("id");
        String name = command.path("execute").asText("");
        JsonNode args = command.has("arguments") ? command.get("arguments") : JsonNodeFactory.instance.objectNode();
        received.add(new Received(name, args, id, command, System.nanoTime(), c.number));
        Fault fault = takeFault(name);
        if (fault instanceof Fault.Disconnect) {
            return false;
        }
        if (fault instanceof Fault.NoReply) {
            return true;
        }
        if (fault instanceof Fault.Garbage g) {
            c.write(g.bytes());
            return true;
        }
        if (fault instanceof Fault.RawReply r) {
            c.writeLine(r.line());
            return true;
        }
        if (fault instanceof Fault.Delay d) {
            sleep(d.delay());
        }
        if (fault instanceof Fault.EventsBefore e) {
            for (ObjectNode ev : e.events()) {
                c.writeLine(ev);
            }
        }
        if (fault instanceof Fault.EventCarryingId e) {
            ObjectNode ev = event(e.name(), null);
            if (id != null) {
                ev.set("id", id);
            }
            ev.putObject("return").put("fake", "this is an event, not the reply");
            c.writeLine(ev);
        }
        if (fault instanceof Fault.StrayReplyBefore) {
            ObjectNode stray = JsonNodeFactory.instance.objectNode();
            stray.putObject("return");
            stray.put("id", 987654321);
            c.writeLine(stray);
        }
        List<ObjectNode> after = new ArrayList<>();
        ObjectNode reply;
        if (fault instanceof Fault.ErrorReply e) {
            reply = error(e.errorClass(), e.desc());
        } else {
            reply = dispatch(c, name, args, after);
        }
        if (id != null) {
            reply.set("id", id);
        }
        if (fault instanceof Fault.Oversized o) {
            int base = reply.toString().length() + ",\"pad\":\"\"".length();
            reply.put("pad", "x".repeat(Math.max(0, o.bytes() - base)));
        }
        if (fault instanceof Fault.SplitReply s) {
            byte[] bytes = (reply + "\r\n").getBytes(StandardCharsets.UTF_8);
            for (int i = 0; i < bytes.length; i += s.chunk()) {
                byte[] piece = java.util.Arrays.copyOfRange(bytes, i, Math.min(bytes.length, i + s.chunk()));
                c.write(piece);
                sleep(s.pause());
            }
        } else {
            c.writeLine(reply);
        }
        for (ObjectNode ev : after) {
            c.writeLine(ev);
        }
        if (fault instanceof Fault.EventsAfter e) {
            for (ObjectNode ev : e.events()) {
                c.writeLine(ev);
            }
        }
        return !"quit".equals(name) || reply.has("error");
    }

    private Fault takeFault(String name) {
        synchronized (faults) {
            for (Iterator<Queued> it = faults.iterator(); it.hasNext(); ) {
                Queued q = it.next();
                if (q.command() == null || q.command().equals(name)) {
                    it.remove();
                    return q.fault();
                }
            }
        }
        return null;
    }

    /** The reply to a well-behaved command (QEMU 7.2's texts); events to send before it are written here. */
    private ObjectNode dispatch(Conn c, String name, JsonNode args, List<ObjectNode> after) throws IOException {
        if (name.equals("qmp_capabilities")) {
            if (c.negotiated) {
                return error("CommandNotFound", "Capabilities negotiation is already complete, command ignored");
            }
            c.negotiated = true;
            return ok(JsonNodeFactory.instance.objectNode());
        }
        if (!c.negotiated) {
            return error("CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'");
        }
        Function<JsonNode, JsonNode> custom = handlers.get(name);
        if (custom != null) {
            return ok(custom.apply(args));
        }
        switch (name) {
            case "query-status": {
                ObjectNode s = JsonNodeFactory.instance.objectNode();
                s.put("status", c.status);
                s.put("singlestep", false);
                s.put("running", c.status.equals("running"));
                return ok(s);
            }
            case "stop":
                if (c.status.equals("running")) {
                    c.status = "paused";
                    c.writeLine(event("STOP", null));
                }
                return ok(JsonNodeFactory.instance.objectNode());
            case "cont":
                c.status = "running";
                c.writeLine(event("RESUME", null));
                return ok(JsonNodeFactory.instance.objectNode());
            case "query-version": {
                ObjectNode v = JsonNodeFactory.instance.objectNode();
                ObjectNode q = v.putObject("qemu");
                q.put("micro", 22);
                q.put("minor", 2);
                q.put("major", 7);
                v.put("package", "Debian 1:7.2+dfsg-7+deb12u18+b3");
                return ok(v);
            }
            case "quit": {
                ObjectNode data = JsonNodeFactory.instance.objectNode();
                data.put("guest", false);
                data.put("reason", "host-qmp-quit");
                c.writeLine(event("SHUTDOWN", data));
                return ok(JsonNodeFactory.instance.objectNode());
            }
            case "x-echo":
                return ok(args);
            case "xen-save-devices-state":
                return saveDevicesState(args);
            default:
                return error("CommandNotFound", "The command " + name + " has not been found");
        }
    }

    private static ObjectNode saveDevicesState(JsonNode args) {
        for (Iterator<String> it = args.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!f.equals("filename") && !f.equals("live")) {
                return error("GenericError", "Parameter '" + f + "' is unexpected");
            }
        }
        JsonNode filename = args.get("filename");
        if (filename == null) {
            return error("GenericError", "Parameter 'filename' is missing");
        }
        if (!filename.isTextual()) {
            return error("GenericError", "Invalid parameter type for 'filename', expected: string");
        }
        if (args.has("live") && !args.get("live").isBoolean()) {
            return error("GenericError", "Invalid parameter type for 'live', expected: boolean");
        }
        Path file = Path.of(filename.textValue());
        try {
            // QEVM magic, version 3, then QEMU_VM_EOF: the smallest stream a loader accepts the header of.
            Files.write(file, new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0});
        } catch (IOException e) {
            String why = Files.isDirectory(file.getParent() == null ? Path.of("/") : file.getParent())
                    ? "Permission denied" : "No such file or directory";
            return error("GenericError", "Unable to open " + filename.textValue() + ": " + why);
        }
        return ok(JsonNodeFactory.instance.objectNode());
    }

    private static ObjectNode ok(JsonNode value) {
        ObjectNode r = JsonNodeFactory.instance.objectNode();
        r.set("return", value == null ? JsonNodeFactory.instance.objectNode() : value);
        return r;
    }

    /** An error reply as QEMU writes it. */
    public static ObjectNode error(String errorClass, String desc) {
        ObjectNode r = JsonNodeFactory.instance.objectNode();
        ObjectNode e = r.putObject("error");
        e.put("class", errorClass);
        e.put("desc", desc);
        return r;
    }

    private static void sleep(Duration d) {
        try {
            TimeUnit.NANOSECONDS.sleep(d.toNanos());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Drops every connection now, as a dying QEMU would (the server keeps listening). */
    public void disconnectAll() {
        for (Conn c : connections) {
            c.close();
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        disconnectAll();
        for (Thread t : threads) {
            t.interrupt();
        }
        try {
            acceptor.join(1000);
            for (Thread t : threads) {
                t.join(1000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // a stale socket file is harmless
        }
    }
}
