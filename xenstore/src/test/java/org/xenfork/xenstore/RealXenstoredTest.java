package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.EventDispatcher;
import org.xenfork.wire.ProtocolViolationException;

/**
 * The client against a real xenstored: Debian's oxenstored (package
 * {@code xen-utils-4.17}; Debian's default xenstored), with Debian's
 * {@code xenstore-read}/{@code -write}/{@code -chmod}/{@code -ls}/{@code -list}
 * (package {@code xenstore-utils}, i.e. libxenstore) as the reference peer on the
 * same daemon.
 *
 * <p>oxenstored needs Xen to start; here there is none. It runs as a child process
 * inside a private mount namespace ({@code unshare --mount}, needs root), with:
 * <ul>
 * <li>an LD_PRELOAD shim ({@code oxenstored-no-xen-shim.c}, built with gcc) giving it
 *     dummy hypervisor and event-channel handles, which {@code --no-domain-init} and
 *     socket-only clients never use;</li>
 * <li>a temporary directory bind-mounted on {@code /run}, because the socket path
 *     ({@code /var/run/xenstored/socket}) is compiled in;</li>
 * <li>a file holding the hard {@code RLIMIT_NOFILE} bind-mounted on
 *     {@code /proc/sys/fs/nr_open}: oxenstored raises its fd limit to
 *     {@code nr_open}, which fails (EPERM) without CAP_SYS_RESOURCE.</li>
 * </ul>
 * Nothing outside the namespace changes. C xenstored (the other daemon in the
 * package) cannot be used: without Xen it exits ("Failed to open connection to
 * hypervisor"), and with {@code -D} 4.17 crashes on the first request.
 *
 * <p>Missing tools skip these tests loudly; {@code -Dxenfork.requireXenstored=true}
 * makes that a failure (for CI, which installs them).
 */
class RealXenstoredTest {

    private static final String INSTALL_HINT = "apt-get install xen-utils-4.17 xenstore-utils gcc";
    private static final Duration TIMEOUT = Duration.ofSeconds(5);

    @TempDir
    static Path dir;

    private static Process daemon;
    private static Path socket;
    private static Path daemonLog;

    private XenstoreClient xs;
    /** A subtree of its own per test: the daemon is shared by the class. */
    private String base;

    @BeforeAll
    static void startOxenstored() throws Exception {
        Path oxenstored = findOxenstored();
        List<String> missing = new ArrayList<>();
        if (oxenstored == null) {
            missing.add("oxenstored (package xen-utils-4.17)");
        }
        for (String tool : List.of("xenstore-read", "xenstore-write", "xenstore-chmod", "xenstore-ls", "xenstore-list")) {
            if (findOnPath(tool) == null) {
                missing.add(tool + " (package xenstore-utils)");
            }
        }
        for (String tool : List.of("gcc", "unshare", "mount")) {
            if (findOnPath(tool) == null) {
                missing.add(tool);
            }
        }
        if (!missing.isEmpty()) {
            skipOrFail("missing " + String.join(", ", missing));
        }

        Path shimSource = dir.resolve("shim.c");
        try (InputStream in = RealXenstoredTest.class.getResourceAsStream("oxenstored-no-xen-shim.c")) {
            Files.copy(in, shimSource);
        }
        Path shim = dir.resolve("shim.so");
        run(List.of("gcc", "-shared", "-fPIC", "-Wall", "-o", shim.toString(), shimSource.toString()));

        Path run = Files.createDirectories(dir.resolve("run"));
        Files.createDirectories(run.resolve("xenstored"));
        Files.createDirectories(run.resolve("xen"));
        Path logs = Files.createDirectories(dir.resolve("log"));
        Path conf = dir.resolve("oxenstored.conf");
        Files.writeString(conf, String.join("\n",
                "pid-file = " + dir.resolve("oxenstored.pid"),
                "xenstored-log-file = " + logs.resolve("xenstored.log"),
                "access-log-file = " + logs.resolve("access.log"),
                "persistent = false",
                ""));
        socket = run.resolve("xenstored/socket");
        daemonLog = dir.resolve("daemon.out");

        // $1 temp dir, $2 shim, $3 oxenstored, $4 config. exec: the child process *is* oxenstored.
        String script = "set -e; ulimit -Hn > \"$1/nr_open\"; "
                + "mount --bind \"$1/nr_open\" /proc/sys/fs/nr_open; "
                + "mount --bind \"$1/run\" /run; "
                + "LD_PRELOAD=\"$2\" exec \"$3\" --no-fork --no-domain-init --config-file \"$4\"";
        daemon = new ProcessBuilder("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                dir.toString(), shim.toString(), oxenstored.toString(), conf.toString())
                .redirectErrorStream(true).redirectOutput(daemonLog.toFile()).start();

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!Files.exists(socket)) {
            if (!daemon.isAlive()) {
                skipOrFail("oxenstored did not start (exit " + daemon.exitValue() + "): " + Files.readString(daemonLog).strip());
            }
            if (System.nanoTime() > deadline) {
                stopOxenstored();
                skipOrFail("oxenstored made no socket within 15 s: " + Files.readString(daemonLog).strip());
            }
            Thread.sleep(20);
        }
    }

    @AfterAll
    static void stopOxenstored() throws InterruptedException {
        if (daemon != null && daemon.isAlive()) {
            daemon.destroy();
            if (!daemon.waitFor(5, TimeUnit.SECONDS)) {
                daemon.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    @BeforeEach
    void connect(TestInfo test) throws IOException {
        assertThat(daemon.isAlive()).as("oxenstored still running").isTrue();
        xs = XenstoreClient.connect(socket, TIMEOUT);
        base = "/xenfork-test/" + test.getTestMethod().orElseThrow().getName();
    }

    @AfterEach
    void close() throws IOException {
        xs.close();
    }

    // --- our client and the C tools on one daemon ------------------------------------------------------

    @Test
    void xenstoreReadSeesOurWrite() throws Exception {
        xs.write(base + "/name", "hello from java");
        assertThat(cli("xenstore-read", base + "/name")).isEqualTo("hello from java");
    }

    @Test
    void weSeeXenstoreWrites() throws Exception {
        cli("xenstore-write", base + "/a", "written by C", base + "/b", "");
        assertThat(xs.read(base + "/a")).contains("written by C");
        assertThat(xs.read(base + "/b")).contains("");
        assertThat(xs.directory(base)).containsExactlyInAnyOrder("a", "b");
    }

    @Test
    void permissionsAgreeWithXenstoreChmodAndLs() throws Exception {
        xs.write(base + "/ours", "v");
        xs.setPermissions(base + "/ours", List.of(XsPermission.none(0), XsPermission.read(5), XsPermission.both(7)));
        assertThat(cli("xenstore-ls", "-p", base)).contains("(n0,r5,b7)");

        cli("xenstore-write", base + "/theirs", "v");
        cli("xenstore-chmod", base + "/theirs", "b3", "w2");
        assertThat(xs.getPermissions(base + "/theirs")).containsExactly(XsPermission.both(3), XsPermission.write(2));
    }

    @Test
    void childListsAgreeWithXenstoreList() throws Exception {
        List<String> names = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            names.add(String.format("child-%03d", i)); // 1000 bytes of names
        }
        xs.transaction(tx -> {
            for (String n : names) {
                tx.write(base + "/" + n, "");
            }
            return null;
        });
        List<String> ours = xs.directory(base);
        assertThat(ours).containsExactlyInAnyOrderElementsOf(names);
        assertThat(cli("xenstore-list", base).split("\n")).containsExactlyElementsOf(ours);
    }

    @Test
    void watchFiresForAChangeByTheCTool() throws Exception {
        XenstoreClientTest.Events events = new XenstoreClientTest.Events();
        xs.mkdir(base);
        try (XenstoreWatch w = xs.watch(base, "real-token", events)) {
            assertThat(events.next()).isEqualTo(new XsWatchEvent(base, w.token()));
            cli("xenstore-write", base + "/child", "x");
            assertThat(events.next()).isEqualTo(new XsWatchEvent(base + "/child", "real-token"));
            // our own write: the event and the reply both arrive, in whichever order the daemon sends them
            xs.write(base + "/child", "y");
            assertThat(events.next().path()).isEqualTo(base + "/child");
        }
        cli("xenstore-write", base + "/after", "z");
        events.assertNoneFor(Duration.ofMillis(300));
    }

    @Test
    void specialWatchPathIsAccepted() throws Exception {
        XenstoreClientTest.Events events = new XenstoreClientTest.Events();
        try (XenstoreWatch w = xs.watch("@releaseDomain", events)) {
            assertThat(events.next()).isEqualTo(new XsWatchEvent("@releaseDomain", w.token()));
        }
    }

    // --- operations and errors as the real daemon answers them ----------------------------------------------

    @Test
    void everyOperationAndItsCommonErrors() throws Exception {
        assertThat(xs.read(base + "/missing")).isEmpty();
        assertThatThrownBy(() -> xs.directory(base + "/missing")).isInstanceOfSatisfying(XenstoreException.class,
                e -> assertThat(e.errorName()).isEqualTo("ENOENT"));
        assertThatThrownBy(() -> xs.getPermissions(base + "/missing")).isInstanceOfSatisfying(XenstoreException.class,
                e -> assertThat(e.is(XsError.ENOENT)).isTrue());
        assertThatThrownBy(() -> xs.setPermissions(base + "/missing", List.of(XsPermission.none(0))))
                .isInstanceOfSatisfying(XenstoreException.class, e -> assertThat(e.is(XsError.ENOENT)).isTrue());

        xs.mkdir(base + "/dir");
        xs.mkdir(base + "/dir");
        assertThat(xs.read(base + "/dir")).contains("");
        xs.write(base + "/dir/leaf", new byte[] {1, 0, 2});
        assertThat(xs.readBytes(base + "/dir/leaf")).hasValueSatisfying(v -> assertThat(v).containsExactly(1, 0, 2));
        xs.rm(base + "/dir");
        assertThat(xs.read(base + "/dir/leaf")).isEmpty();
        assertThat(xs.getDomainPath(3)).isEqualTo("/local/domain/3");
    }

    @Test
    void fullSizePayloadIsWellFormedForTheDaemon() throws IOException {
        // oxenstored's own per-node quota is 2048 bytes of value; a 4096-byte payload is a
        // well-formed message it refuses with E2BIG, leaving the connection open.
        String path = base + "/max";
        byte[] quota = new byte[2048];
        Arrays.fill(quota, (byte) 'v');
        xs.write(path, quota);
        assertThat(xs.readBytes(path)).hasValueSatisfying(v -> assertThat(v).isEqualTo(quota));
        byte[] full = new byte[XsWire.PAYLOAD_MAX - path.length() - 1];
        assertThatThrownBy(() -> xs.write(path, full)).isInstanceOfSatisfying(XenstoreException.class,
                e -> assertThat(e.is(XsError.E2BIG)).isTrue());
        assertThat(xs.isOpen()).isTrue();
        assertThat(xs.readBytes(path)).hasValueSatisfying(v -> assertThat(v).isEqualTo(quota));
    }

    /**
     * oxenstored 4.17 has no XS_DIRECTORY_PART (ENOSYS) and answers a long XS_DIRECTORY
     * on its socket with a reply beyond XENSTORE_PAYLOAD_MAX. We refuse it as a protocol
     * error (the connection closes), exactly where libxenstore's xenstore-list fails
     * too. If a later oxenstored pages or answers E2BIG, this test fails: then
     * directory() works for long lists there, and this test should say so.
     */
    @Test
    void longChildListFromOxenstoredIsRefusedLikeLibxenstoreRefusesIt() throws Exception {
        xs.transaction(tx -> {
            for (int i = 0; i < 400; i++) {
                tx.write(String.format("%s/child-with-a-long-name-%04d", base, i), ""); // 28 bytes each
            }
            return null;
        });
        assertThatThrownBy(() -> xs.directory(base)).isInstanceOf(ConnectionClosedException.class)
                .hasRootCauseInstanceOf(ProtocolViolationException.class)
                .hasRootCauseMessage("XS_DIRECTORY header announces 11200 payload bytes, more than XENSTORE_PAYLOAD_MAX (4096)");
        assertThat(cliExitCode("xenstore-list", base)).as("xenstore-list exit code").isNotZero();

        XsConnection raw = new XsConnection(UnixSocketTransport.connect(socket), TIMEOUT, new EventDispatcher<>("raw events", "raw-events", 8, "test", Long.MAX_VALUE, "test"));
        try {
            XsMessage reply = raw.call(XsMessageType.DIRECTORY_PART, 0, XsPayload.strings(base, "0"), base);
            assertThat(reply.type()).isEqualTo(XsMessageType.ERROR);
            assertThat(XsPayload.singleString(reply.payload())).isEqualTo("ENOSYS");
        } finally {
            raw.close();
        }
    }

    @Test
    void transactionCommitAndAbort() throws Exception {
        try (XenstoreTransaction tx = xs.startTransaction()) {
            tx.write(base + "/committed", "1");
            assertThat(cliExitCode("xenstore-read", base + "/committed")).as("invisible before commit").isNotZero();
            tx.commit();
        }
        assertThat(cli("xenstore-read", base + "/committed")).isEqualTo("1");
        try (XenstoreTransaction tx = xs.startTransaction()) {
            tx.write(base + "/abandoned", "1");
        }
        assertThat(xs.read(base + "/abandoned")).isEmpty();
    }

    @Test
    void conflictingTransactionIsRetriedByTheHelper() throws Exception {
        xs.write(base + "/counter", "0");
        AtomicInteger runs = new AtomicInteger();
        try (XenstoreClient other = XenstoreClient.connect(socket, TIMEOUT)) {
            String result = xs.transaction(tx -> {
                int n = Integer.parseInt(tx.read(base + "/counter").orElseThrow());
                if (runs.incrementAndGet() == 1) {
                    other.write(base + "/counter", "100"); // a conflicting change behind the transaction's back
                }
                tx.write(base + "/counter", Integer.toString(n + 1));
                return "read " + n;
            });
            assertThat(runs).as("the first run met EAGAIN and the body ran again").hasValue(2);
            assertThat(result).isEqualTo("read 100");
        }
        assertThat(cli("xenstore-read", base + "/counter")).isEqualTo("101");
    }

    @Test
    void conflictSurfacesAsEAGAINFromCommit() throws Exception {
        xs.write(base + "/c", "0");
        try (XenstoreClient other = XenstoreClient.connect(socket, TIMEOUT)) {
            XenstoreTransaction tx = xs.startTransaction();
            assertThat(tx.read(base + "/c")).contains("0");
            other.write(base + "/c", "other");
            tx.write(base + "/c", "tx");
            assertThatThrownBy(tx::commit).isInstanceOfSatisfying(XenstoreException.class, e -> {
                assertThat(e.operation()).isEqualTo(XsMessageType.TRANSACTION_END);
                assertThat(e.is(XsError.EAGAIN)).isTrue();
            });
        }
        assertThat(xs.read(base + "/c")).contains("other");
    }

    // --- harness -------------------------------------------------------------------------------------------------

    /** Runs a xenstore CLI tool against our daemon; its stdout without the final newline. */
    private static String cli(String... command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("XENSTORED_PATH", socket.toString());
        Path out = Files.createTempFile(dir, "cli", ".out");
        Path err = Files.createTempFile(dir, "cli", ".err");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", command) + " did not finish within 20 s");
        }
        if (p.exitValue() != 0) {
            fail(String.join(" ", command) + " exited with " + p.exitValue() + ": " + Files.readString(err)
                    + "\ndaemon output: " + Files.readString(daemonLog));
        }
        String s = Files.readString(out, StandardCharsets.UTF_8);
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    private static int cliExitCode(String... command) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("XENSTORED_PATH", socket.toString());
        Process p = pb.start();
        if (!p.waitFor(20, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", command) + " did not finish within 20 s");
        }
        return p.exitValue();
    }

    private static void run(List<String> command) throws IOException, InterruptedException {
        Path out = dir.resolve("build.out");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            fail(String.join(" ", command) + " failed: " + Files.readString(out));
        }
    }

    private static Path findOxenstored() throws IOException {
        Path debian417 = Path.of("/usr/lib/xen-4.17/bin/oxenstored");
        if (Files.isExecutable(debian417)) {
            return debian417;
        }
        Path lib = Path.of("/usr/lib");
        if (!Files.isDirectory(lib)) {
            return null;
        }
        try (Stream<Path> dirs = Files.list(lib)) {
            return dirs.filter(d -> d.getFileName().toString().startsWith("xen-"))
                    .map(d -> d.resolve("bin/oxenstored")).filter(Files::isExecutable).sorted().findFirst().orElse(null);
        }
    }

    private static Path findOnPath(String program) {
        String path = System.getenv("PATH");
        List<String> dirs = new ArrayList<>(path == null ? List.of() : List.of(path.split(File.pathSeparator)));
        dirs.addAll(List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin")); // mount lives in /bin, PATH may lack sbin
        for (String d : dirs) {
            Path candidate = Path.of(d.isEmpty() ? "." : d, program);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    private static void skipOrFail(String why) {
        if (Boolean.getBoolean("xenfork.requireXenstored")) {
            fail("real xenstored required (-Dxenfork.requireXenstored=true) but " + why + "; install with: " + INSTALL_HINT);
        }
        String message = "real-xenstored tests SKIPPED: " + why + "; install with: " + INSTALL_HINT;
        System.err.println("*".repeat(Math.min(message.length(), 120)));
        System.err.println(message);
        System.err.println("*".repeat(Math.min(message.length(), 120)));
        Assumptions.abort(message);
    }
}
