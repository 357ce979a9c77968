package org.xenfork.testfixtures;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * A stock QEMU (Debian's {@code qemu-system-x86}, TCG, no Xen) as a child process with a QMP socket, for
 * tests: {@code qemu-system-x86_64 -machine pc,accel=tcg -m 64 -nographic -nodefaults -no-user-config -S
 * -qmp unix:DIR/NAME.qmp,server=on,wait=off}, optionally with the Xen-like migration globals and
 * {@code -incoming fd:0}.
 *
 * <p>It always dies: {@link #close()} SIGKILLs it and waits (bounded); a JVM shutdown hook kills any left
 * open; and it runs under {@code timeout -s KILL} (coreutils) with a maximum lifetime (10 minutes by
 * default), so that not even a SIGKILLed test JVM leaves it behind.
 *
 * <p>Passing a file as a descriptor: Java's {@link ProcessBuilder} closes every descriptor above 2 in the
 * child, so {@code -incoming fd:N} can only use 0, 1 or 2. {@link Builder#incoming(Path)} gives the file as
 * QEMU's standard input ({@code redirectInput}) and adds {@code -incoming fd:0}; no other descriptor of the
 * JVM reaches QEMU.
 *
 * <p>Missing QEMU: {@link #requireBinary()} aborts the calling test loudly (a banner on stderr and a JUnit
 * assumption with the reason), or fails it when {@code -Dxenfork.requireQemu=true} (CI).
 */
public final class TestQemu implements AutoCloseable {

    public static final String REQUIRE_PROPERTY = "xenfork.requireQemu";
    /** Overrides the binary: {@code -Dxenfork.qemu=/path/to/qemu-system-x86_64}. */
    public static final String BINARY_PROPERTY = "xenfork.qemu";
    public static final String INSTALL_HINT = "apt-get install qemu-system-x86";

    /**
     * The migration globals the Xen accelerator forces (QEMU's accel/xen/xen-all.c, {@code xen_accel_class_init});
     * a save and its loader must agree on them.
     */
    public static final List<String> XEN_LIKE_GLOBALS = List.of(
            "-global", "migration.store-global-state=off",
            "-global", "migration.send-configuration=off",
            "-global", "migration.send-section-footer=off");

    private static final Set<TestQemu> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(TestQemu::close), "test-qemu-reaper"));
    }

    private final Process process;
    private final ProcessHandle qemu;
    private final Path socket;
    private final Path log;
    private final List<String> command;

    private TestQemu(Process process, ProcessHandle qemu, Path socket, Path log, List<String> command) {
        this.process = process;
        this.qemu = qemu;
        this.socket = socket;
        this.log = log;
        this.command = command;
    }

    /** The QEMU binary: {@code -Dxenfork.qemu}, else {@code qemu-system-x86_64} on PATH or in /usr/bin. */
    public static Optional<Path> findBinary() {
        String explicit = System.getProperty(BINARY_PROPERTY);
        if (explicit != null && !explicit.isBlank()) {
            Path p = Path.of(explicit);
            return Files.isExecutable(p) ? Optional.of(p) : Optional.empty();
        }
        return onPath("qemu-system-x86_64");
    }

    private static Optional<Path> onPath(String program) {
        String path = System.getenv("PATH");
        List<String> dirs = new ArrayList<>(path == null ? List.of() : List.of(path.split(File.pathSeparator)));
        dirs.add("/usr/bin");
        for (String d : dirs) {
            Path candidate = Path.of(d.isEmpty() ? "." : d, program);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /**
     * The QEMU binary, or the calling test is aborted loudly (skipped, with the reason) — or failed when
     * {@code -Dxenfork.requireQemu=true}.
     */
    public static Path requireBinary() {
        Optional<Path> binary = findBinary();
        if (binary.isPresent()) {
            return binary.get();
        }
        String explicit = System.getProperty(BINARY_PROPERTY);
        String why = explicit != null && !explicit.isBlank()
                ? "-D" + BINARY_PROPERTY + "=" + explicit + " is not an executable"
                : "qemu-system-x86_64 is not installed (not on PATH, not in /usr/bin)";
        if (Boolean.getBoolean(REQUIRE_PROPERTY)) {
            Assertions.fail("real QEMU required (-D" + REQUIRE_PROPERTY + "=true) but " + why + "; install with: " + INSTALL_HINT);
        }
        String message = "real-QEMU tests SKIPPED: " + why + "; install with: " + INSTALL_HINT;
        System.err.println("*".repeat(Math.min(message.length(), 120)));
        System.err.println(message);
        System.err.println("*".repeat(Math.min(message.length(), 120)));
        Assumptions.abort(message);
        throw new AssertionError("unreachable");
    }

    /** A QEMU whose socket, log and (by default) name live in {@code dir}. */
    public static Builder builder(Path dir) {
        return new Builder(dir);
    }

    public static final class Builder {
        private final Path dir;
        private String name = "qemu";
        private boolean xenLike;
        private Path incoming;
        private boolean paused = true;
        private int memoryMb = 64;
        private final List<String> extra = new ArrayList<>();
        private Duration socketTimeout = Duration.ofSeconds(15);
        private Duration maxLifetime = Duration.ofMinutes(10);

        private Builder(Path dir) {
            this.dir = dir;
        }

        /** Names the socket ({@code NAME.qmp}) and log ({@code NAME.log}) in the directory. */
        public Builder name(String value) {
            this.name = value;
            return this;
        }

        /** The Xen-like globals ({@link #XEN_LIKE_GLOBALS}) and {@code suppress-vmdesc=on} on the machine. */
        public Builder xenLike() {
            this.xenLike = true;
            return this;
        }

        /** Load {@code saveFile} at start: {@code -incoming fd:0} with the file as standard input. */
        public Builder incoming(Path saveFile) {
            this.incoming = saveFile;
            return this;
        }

        /** Without {@code -S}: the VM runs (SeaBIOS, no boot device) as soon as QEMU has started. */
        public Builder running() {
            this.paused = false;
            return this;
        }

        public Builder memoryMb(int mb) {
            this.memoryMb = mb;
            return this;
        }

        public Builder extraArgs(String... args) {
            this.extra.addAll(List.of(args));
            return this;
        }

        /** How long to wait for the QMP socket to appear (default 15 s). */
        public Builder socketTimeout(Duration timeout) {
            this.socketTimeout = timeout;
            return this;
        }

        /** After this QEMU is SIGKILLed whatever happens (default 10 minutes). */
        public Builder maxLifetime(Duration lifetime) {
            this.maxLifetime = lifetime;
            return this;
        }

        /** Starts QEMU and waits (bounded) until its QMP socket exists; the test is skipped if QEMU is missing. */
        public TestQemu start() throws IOException {
            Path binary = requireBinary();
            Path socket = dir.resolve(name + ".qmp");
            Path log = dir.resolve(name + ".log");
            Files.deleteIfExists(socket);
            List<String> qemu = new ArrayList<>();
            qemu.add(binary.toString());
            qemu.add("-machine");
            qemu.add("pc,accel=tcg" + (xenLike ? ",suppress-vmdesc=on" : ""));
            qemu.addAll(List.of("-m", Integer.toString(memoryMb), "-nographic", "-nodefaults", "-no-user-config"));
            if (paused) {
                qemu.add("-S");
            }
            qemu.add("-qmp");
            qemu.add("unix:" + socket + ",server=on,wait=off");
            if (xenLike) {
                qemu.addAll(XEN_LIKE_GLOBALS);
            }
            if (incoming != null) {
                qemu.add("-incoming");
                qemu.add("fd:0");
            }
            qemu.addAll(extra);
            List<String> argv = new ArrayList<>();
            Optional<Path> timeout = onPath("timeout");
            if (timeout.isPresent()) {
                argv.addAll(List.of(timeout.get().toString(), "-s", "KILL", maxLifetime.toSeconds() + "s"));
            }
            argv.addAll(qemu);
            ProcessBuilder pb = new ProcessBuilder(argv)
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(incoming != null ? ProcessBuilder.Redirect.from(incoming.toFile())
                            : ProcessBuilder.Redirect.from(new File("/dev/null")));
            Process process = pb.start();
            ProcessHandle qemuHandle = process.toHandle();
            TestQemu started = null;
            try {
                if (timeout.isPresent()) {
                    qemuHandle = child(process, log);
                }
                started = new TestQemu(process, qemuHandle, socket, log, List.copyOf(qemu));
                LIVE.add(started);
                started.awaitSocket(socketTimeout);
                return started;
            } catch (IOException | RuntimeException e) {
                if (started != null) {
                    started.close();
                } else {
                    qemuHandle.destroyForcibly();
                    process.destroyForcibly();
                }
                throw e;
            }
        }

        private static ProcessHandle child(Process wrapper, Path log) throws IOException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (System.nanoTime() < deadline) {
                Optional<ProcessHandle> c = wrapper.children().findFirst();
                if (c.isPresent()) {
                    return c.get();
                }
                if (!wrapper.isAlive()) {
                    break;
                }
                pause(2);
            }
            wrapper.destroyForcibly();
            throw new IOException("QEMU did not start under timeout(1) within 5 s; log " + log + ": " + tail(log));
        }
    }

    /**
     * Waits until QEMU listens on its QMP socket. The file appears at bind(), before QEMU's listen():
     * a connect() in between is refused, which a loaded host made visible (RealQemuTest failed with
     * "Connection refused" right after start()). So the wait is for the listening state, as the
     * kernel shows it, without a probe connection that QEMU would see.
     */
    private void awaitSocket(Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            if (isSocket(socket) && isListening(socket)) {
                return;
            }
            if (!qemu.isAlive()) {
                throw new IOException("QEMU exited before creating its QMP socket " + socket + "; command: "
                        + String.join(" ", command) + "; log: " + tail(log));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("no QMP socket " + socket + " within " + timeout.toMillis() + " ms of starting QEMU; log: "
                        + tail(log));
            }
            pause(2);
        }
    }

    /** __SO_ACCEPTCON in the Flags column of /proc/net/unix: the socket is in listen(). */
    private static final int SO_ACCEPTCON = 0x10000;

    /** True when /proc/net/unix lists a listening socket bound to {@code p}. */
    public static boolean isListening(Path p) throws IOException {
        String path = p.toAbsolutePath().toString();
        try (var lines = Files.lines(Path.of("/proc/net/unix"), StandardCharsets.UTF_8)) {
            return lines.skip(1).map(l -> l.trim().split("\\s+")).anyMatch(f -> f.length >= 8
                    && f[7].equals(path) && (Integer.parseInt(f[3], 16) & SO_ACCEPTCON) != 0);
        }
    }

    private static boolean isSocket(Path p) throws IOException {
        try {
            return ((Integer) Files.getAttribute(p, "unix:mode") & 0170000) == 0140000;
        } catch (NoSuchFileException e) {
            return false;
        }
    }

    private static void pause(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static String tail(Path log) {
        try {
            String s = Files.readString(log, StandardCharsets.UTF_8);
            return s.length() > 2000 ? "…" + s.substring(s.length() - 2000) : s;
        } catch (IOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }

    public Path qmpSocket() {
        return socket;
    }

    /** QEMU's own pid (not the timeout(1) wrapper's). */
    public long pid() {
        return qemu.pid();
    }

    /** QEMU's argument vector (without the timeout(1) wrapper). */
    public List<String> command() {
        return command;
    }

    public Path logFile() {
        return log;
    }

    /** QEMU's stdout and stderr so far (the last 2000 characters). */
    public String log() {
        return tail(log);
    }

    public boolean isAlive() {
        return qemu.isAlive();
    }

    /** SIGKILL to QEMU now (not waited for). */
    public void kill() {
        qemu.destroyForcibly();
    }

    /** SIGSTOP: QEMU stops reading its sockets (a command sent now stays pending). */
    public void suspend() throws IOException {
        signal("STOP");
    }

    /** SIGCONT after {@link #suspend()}. */
    public void resume() throws IOException {
        signal("CONT");
    }

    private void signal(String name) throws IOException {
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(qemu.pid())).inheritIO().start();
            if (!kill.waitFor(5, TimeUnit.SECONDS) || kill.exitValue() != 0) {
                kill.destroyForcibly();
                throw new IOException("kill -" + name + " " + qemu.pid() + " failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted sending SIG" + name, e);
        }
    }

    /** QEMU's exit status within {@code timeout} (128+N when killed by signal N), or empty if it still runs. */
    public OptionalInt awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toNanos(), TimeUnit.NANOSECONDS)) {
            return OptionalInt.empty();
        }
        return OptionalInt.of(process.exitValue());
    }

    /** SIGKILLs QEMU (and its timeout(1) wrapper) and waits up to 5 s for both; removes the socket file. Idempotent. */
    @Override
    public void close() {
        qemu.destroyForcibly();
        try {
            qemu.onExit().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            // reported below if it really survived
        }
        process.destroyForcibly();
        try {
            process.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LIVE.remove(this);
        try {
            Files.deleteIfExists(socket);
        } catch (IOException ignored) {
            // harmless
        }
        if (qemu.isAlive()) {
            System.err.println("TestQemu: QEMU pid " + qemu.pid() + " survived SIGKILL for 5 s");
        }
    }

    @Override
    public String toString() {
        return "TestQemu[pid " + qemu.pid() + ", " + socket + "]";
    }
}
