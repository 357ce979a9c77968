package org.xenfork.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.xenfork.qmp.QmpClient;

/**
 * The QMP client against a minimal Python client ({@code bench/qmp_bench.py}) on the same stock QEMU
 * (TCG, {@code -S}, no Xen), and the cost of starting the client's event loop. Not JMH: the operation
 * involves a QEMU process and a fresh JVM, so it is timed whole with {@code System.nanoTime}, each step
 * of each iteration separately. Prints {@code BENCH name=… n=… median_us=…} lines (RigForkRate's format).
 *
 * <pre>
 *   java -cp bench/target/benchmarks.jar org.xenfork.bench.QmpLatency [N [WARMUP [PROCESSES]]]
 * </pre>
 *
 * <ol>
 * <li>{@code java.cold.*}: the first connect + save + close in this JVM (class loading, Netty's native
 *     library, the event loop's first start, JIT-cold code).</li>
 * <li>{@code java.sequential.*}: N rounds of connect ({@code QmpClient.connect}: socket, greeting,
 *     {@code qmp_capabilities}), {@code xen-save-devices-state} ({@code live: false}), close, one after the
 *     other with no other client open — the default: the shared event loop lingers 1 s after a close, so the
 *     next connect finds it running.</li>
 * <li>{@code java.loop-restarted.*}: the same with the linger set to 0, so every close shuts the event loop
 *     down and every connect starts it again.</li>
 * <li>{@code java.loop-kept.*}: the same while another client (to a second QEMU) stays open; the difference
 *     between restarted and kept is the event loop's start + stop.</li>
 * <li>{@code python.*}: the same N rounds by {@code qmp_bench.py} on the same QEMU.</li>
 * <li>{@code fresh-jvm.*}: PROCESSES fresh JVMs (the CLI launcher's flags), each timing the loading of
 *     Netty's native library alone, then three rounds of connect + save + close: the first connect in a JVM
 *     against the later ones.</li>
 * <li>{@code process.java} / {@code process.python}: PROCESSES whole-process runs each (interleaved) of one
 *     connect + save + close: a fresh JVM with the CLI launcher's flags vs a fresh python3 (the interpreter
 *     itself, not a wrapper script).</li>
 * </ol>
 * 2, 3, 4 and 5 run in alternating blocks of 50 rounds (after WARMUP untimed Java rounds, default 50; each
 * Python block after 10 untimed rounds of its own), so that the drift of a shared machine hits all alike.
 * Needs qemu-system-x86_64 and python3.
 */
public final class QmpLatency {

    private static final Duration T = Duration.ofSeconds(10);
    /** QmpEventLoop's linger property (package-private there). */
    private static final String LINGER = "xenfork.qmp.eventLoopLingerMillis";

    private QmpLatency() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 3 && args[0].equals("--once")) {
            try (QmpClient c = QmpClient.connect(Path.of(args[1]), T)) {
                c.saveDevicesState(Path.of(args[2]), false, T);
            }
            return;
        }
        if (args.length == 3 && args[0].equals("--cold")) {
            cold(Path.of(args[1]), Path.of(args[2]));
            return;
        }
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 300;
        int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        int processes = args.length > 2 ? Integer.parseInt(args[2]) : 15;
        Path script = Path.of(System.getProperty("qmpbench.python", "bench/qmp_bench.py"));
        if (!Files.isRegularFile(script)) {
            throw new IOException(script + " not found (run from the repository root, or -Dqmpbench.python=PATH)");
        }
        String python = pythonExecutable();
        Path dir = Files.createTempDirectory("qmp-bench");
        Path save = dir.resolve("devices.qevm");
        Process a = startQemu(dir, "a");
        Process b = startQemu(dir, "b");
        try {
            Path sa = dir.resolve("a.qmp");
            Path sb = dir.resolve("b.qmp");
            System.out.println("BENCHINFO n=" + n + " warmup=" + warmup + " processes=" + processes + " java="
                    + System.getProperty("java.version") + " load=" + load());

            long[][] cold = javaRounds(sa, save, 1);
            System.out.printf("BENCH name=java.cold.connect us=%.1f%nBENCH name=java.cold.save us=%.1f%n"
                    + "BENCH name=java.cold.close us=%.1f%n", cold[0][0] / 1e3, cold[1][0] / 1e3, cold[2][0] / 1e3);
            System.out.println("BENCHINFO save file " + Files.size(save) + " bytes, QEMU " + greetingVersion(sa));

            // The second connect in this JVM: classes loaded, the event loop still lingering, code still cold.
            long s0 = System.nanoTime();
            QmpClient.connect(sa, T).close();
            System.out.printf("BENCH name=java.second.connect+close us=%.1f%n", (System.nanoTime() - s0) / 1e3);

            // Four set-ups in alternating blocks, so that the machine's drift (other builds on it) hits all alike.
            javaRounds(sa, save, warmup); // JIT warm-up, untimed
            int block = Math.max(1, Math.min(50, n));
            long[][] sequential = new long[4][0];
            long[][] restarted = new long[4][0];
            long[][] kept = new long[4][0];
            long[][] py = new long[4][0];
            for (int done = 0; done < n; done += block) {
                int k = Math.min(block, n - done);
                sequential = append(sequential, javaRounds(sa, save, k));
                System.setProperty(LINGER, "0");
                QmpClient.connect(sa, T).close(); // ends the lingering loop: every round below starts its own
                restarted = append(restarted, javaRounds(sa, save, k));
                System.clearProperty(LINGER);
                try (QmpClient holder = QmpClient.connect(sb, T)) {
                    kept = append(kept, javaRounds(sa, save, k));
                    holder.queryStatus(T);
                }
                py = append(py, pythonRounds(python, script, sa, save, k, 10));
            }
            String[] steps = {"connect", "save", "close", "total"};
            for (int i = 0; i < 4; i++) {
                BenchLines.report("java.sequential." + steps[i], sequential[i]);
            }
            for (int i = 0; i < 4; i++) {
                BenchLines.report("java.loop-restarted." + steps[i], restarted[i]);
            }
            for (int i = 0; i < 4; i++) {
                BenchLines.report("java.loop-kept." + steps[i], kept[i]);
            }
            for (int i = 0; i < 4; i++) {
                BenchLines.report("python." + steps[i], py[i]);
            }
            System.out.printf("BENCH name=ratio.java-sequential/python median_total=%.2f median_connect=%.2f median_save=%.2f%n",
                    BenchLines.median(sequential[3]) / BenchLines.median(py[3]), BenchLines.median(sequential[0]) / BenchLines.median(py[0]), BenchLines.median(sequential[1]) / BenchLines.median(py[1]));
            System.out.printf("BENCH name=ratio.java-kept/python median_total=%.2f median_connect=%.2f median_save=%.2f%n",
                    BenchLines.median(kept[3]) / BenchLines.median(py[3]), BenchLines.median(kept[0]) / BenchLines.median(py[0]), BenchLines.median(kept[1]) / BenchLines.median(py[1]));
            System.out.printf("BENCH name=ratio.java-restarted/python median_total=%.2f%n", BenchLines.median(restarted[3]) / BenchLines.median(py[3]));
            System.out.printf("BENCH name=event-loop.start+stop median_us=%.1f%n", (BenchLines.median(restarted[3]) - BenchLines.median(kept[3])) / 1e3);

            coldBreakdown(sa, save, processes);

            long[][] whole = processes(python, script, sa, save, processes);
            BenchLines.report("process.java", whole[0]);
            BenchLines.report("process.python", whole[1]);
            System.out.printf("BENCH name=ratio.process.java/python median=%.2f%n", BenchLines.median(whole[0]) / BenchLines.median(whole[1]));
            System.out.println("BENCHINFO load=" + load());
        } finally {
            a.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            b.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            a.destroyForcibly();
            b.destroyForcibly();
            a.waitFor(5, TimeUnit.SECONDS);
            b.waitFor(5, TimeUnit.SECONDS);
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    /** connect, save, close, total — ns per round. */
    private static long[][] javaRounds(Path socket, Path save, int n) throws IOException {
        long[][] r = new long[4][n];
        for (int i = 0; i < n; i++) {
            long t0 = System.nanoTime();
            QmpClient c = QmpClient.connect(socket, T);
            long t1 = System.nanoTime();
            c.saveDevicesState(save, false, T);
            long t2 = System.nanoTime();
            c.close();
            long t3 = System.nanoTime();
            r[0][i] = t1 - t0;
            r[1][i] = t2 - t1;
            r[2][i] = t3 - t2;
            r[3][i] = t3 - t0;
        }
        return r;
    }

    private static long[][] append(long[][] a, long[][] b) {
        long[][] r = new long[a.length][];
        for (int i = 0; i < a.length; i++) {
            r[i] = Arrays.copyOf(a[i], a[i].length + b[i].length);
            System.arraycopy(b[i], 0, r[i], a[i].length, b[i].length);
        }
        return r;
    }

    private static long[][] pythonRounds(String python, Path script, Path socket, Path save, int n, int warmup) throws Exception {
        Process p = new ProcessBuilder(python, script.toString(), socket.toString(), save.toString(),
                Integer.toString(n), Integer.toString(warmup)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("qmp_bench.py failed: " + out);
        }
        JsonNode j = new ObjectMapper().readTree(out);
        long[][] r = new long[4][n];
        String[] keys = {"connect_us", "save_us", "close_us"};
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < n; i++) {
                r[k][i] = Math.round(j.get(keys[k]).get(i).doubleValue() * 1000);
                r[3][i] += r[k][i];
            }
        }
        return r;
    }

    /** Whole-process wall time of one connect + save + close: java (launcher flags) and python3, interleaved. */
    private static long[][] processes(String python, Path script, Path socket, Path save, int runs) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> javaCmd = List.of(java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), QmpLatency.class.getName(), "--once", socket.toString(), save.toString());
        List<String> pyCmd = List.of(python, script.toString(), "--once", socket.toString(), save.toString());
        long[][] r = new long[2][runs];
        timeProcess(javaCmd); // page cache, CDS archive mapping: not the first-ever start
        timeProcess(pyCmd);
        for (int i = 0; i < runs; i++) {
            r[0][i] = timeProcess(javaCmd);
            r[1][i] = timeProcess(pyCmd);
        }
        return r;
    }

    /**
     * In a fresh JVM (launcher flags): loading Netty's native library alone, then the first connect (class
     * loading, the event loop's first start), save and close, then a second and a third round (the event
     * loop restarted, classes loaded, code still cold). One line of microseconds.
     */
    private static void cold(Path socket, Path save) throws IOException {
        long t0 = System.nanoTime();
        boolean epoll = io.netty.channel.epoll.Epoll.isAvailable();
        long t1 = System.nanoTime();
        StringBuilder line = new StringBuilder("COLD native_load_us=").append((t1 - t0) / 1000);
        if (!epoll) {
            throw new IOException("native epoll unavailable", io.netty.channel.epoll.Epoll.unavailabilityCause());
        }
        for (int round = 1; round <= 3; round++) {
            long[][] r = javaRounds(socket, save, 1);
            line.append(" connect").append(round).append("_us=").append(r[0][0] / 1000)
                    .append(" save").append(round).append("_us=").append(r[1][0] / 1000)
                    .append(" close").append(round).append("_us=").append(r[2][0] / 1000);
        }
        System.out.println(line);
    }

    private static void coldBreakdown(Path socket, Path save, int runs) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = List.of(java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), QmpLatency.class.getName(), "--cold", socket.toString(), save.toString());
        String[] keys = {"native_load_us", "connect1_us", "save1_us", "close1_us", "connect2_us", "save2_us", "close2_us",
            "connect3_us", "save3_us", "close3_us"};
        long[][] r = new long[keys.length][runs];
        for (int i = 0; i < runs; i++) {
            Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0 || !out.startsWith("COLD ")) {
                throw new IOException("--cold run failed: " + out);
            }
            for (String kv : out.substring(5).split(" ")) {
                String[] parts = kv.split("=");
                for (int k = 0; k < keys.length; k++) {
                    if (keys[k].equals(parts[0])) {
                        r[k][i] = Long.parseLong(parts[1]) * 1000;
                    }
                }
            }
        }
        for (int k = 0; k < keys.length; k++) {
            BenchLines.report("fresh-jvm." + keys[k].replace("_us", ""), r[k]);
        }
    }

    private static String pythonExecutable() throws Exception {
        // The interpreter itself, not a wrapper script (pyenv's shim is a shell script that costs tens of ms).
        Process p = new ProcessBuilder("python3", "-c", "import sys; print(sys.executable)").start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0 || out.isEmpty()) {
            throw new IOException("python3 not found");
        }
        return out;
    }

    private static long timeProcess(List<String> cmd) throws Exception {
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
        return System.nanoTime() - t0;
    }

    private static Process startQemu(Path dir, String name) throws Exception {
        Path socket = dir.resolve(name + ".qmp");
        List<String> cmd = new ArrayList<>(List.of("timeout", "-s", "KILL", "3600s", "qemu-system-x86_64",
                "-machine", "pc,accel=tcg", "-m", "64", "-nographic", "-nodefaults", "-no-user-config", "-S",
                "-qmp", "unix:" + socket + ",server=on,wait=off"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(dir.resolve(name + ".log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (!Files.exists(socket)) {
            if (!p.isAlive() || System.nanoTime() > deadline) {
                p.destroyForcibly();
                throw new IOException("QEMU did not create " + socket + ": "
                        + Files.readString(dir.resolve(name + ".log")));
            }
            Thread.sleep(2);
        }
        return p;
    }

    private static String greetingVersion(Path socket) throws IOException {
        try (QmpClient c = QmpClient.connect(socket, T)) {
            return c.greeting().version() + " (" + c.greeting().packageName() + ")";
        }
    }

    private static String load() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "?";
        }
    }
}
