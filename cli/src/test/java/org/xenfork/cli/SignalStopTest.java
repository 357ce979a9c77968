package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.function.Predicate;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.xenfork.cli.CommandRunner.Run;
import org.xenfork.fork.StopRequest;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;

/**
 * Signals during {@code fork-vm} (issue 16, item 13: Ctrl-C during {@code fork-vm --count} exited
 * 130 with no summary, and with {@code --json} printed nothing at all). The simulator holds the
 * workflow at a chosen hypercall ({@link SimXen#afterCall}) and the signal is delivered exactly
 * there: in-process by running the shutdown hook's body ({@link SignalStop#onSignal}) on its own
 * thread as the JVM would, and in a real process by {@code kill -INT} / {@code kill -TERM}. No
 * sleeps: each side waits for the other's event. The timeouts only keep a broken build from hanging.
 */
class SignalStopTest extends CommandRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * parentAndWeb, with a signal delivered right after the first top-level call matching {@code when}:
     * the hook's body starts on its own thread, as the JVM starts a shutdown hook, and the workflow's
     * thread goes on only once the stop is requested.
     */
    @SuppressWarnings("try") // the registration is never read: it only has to stay registered while the hold waits
    private Run signalledAfter(Predicate<SimCall> when, List<Thread> hooks, String... args) {
        return xenfork(r -> {
            SimXen m = parentAndWeb(r);
            SignalStop signals = top.signals;
            m.afterCall(when, done -> {
                CountDownLatch requested = new CountDownLatch(1);
                try (StopRequest.Registration reg = signals.request().onRequest(requested::countDown)) {
                    Thread hook = new Thread(signals::onSignal, "test-signal");
                    hooks.add(hook);
                    hook.start();
                    requested.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            return m;
        }, args);
    }

    /** The n-th XEN_DOMCTL_createdomain: the signal comes between a fork's createdomain and its fork. */
    private static Predicate<SimCall> createdomain(int n) {
        int[] seen = {0};
        return SimCall.named("XEN_DOMCTL_createdomain").and(c -> ++seen[0] == n);
    }

    private static List<Integer> domids(JsonNode forks) {
        return StreamSupport.stream(forks.spliterator(), false).map(f -> f.get("domid").asInt()).toList();
    }

    private List<Integer> domids() {
        return sim.domains().stream().map(SimDomain::domid).toList();
    }

    @Test
    @Timeout(20) // below SignalStop.GRACE: a hook that was never released would fail this, not pass slowly
    void ctrlCMidCountFinishesTheForkInProgressAndPrintsTheForksMadeAsJson() throws Exception {
        List<Thread> hooks = new ArrayList<>();
        Run r = signalledAfter(createdomain(2), hooks, "--backend", "sim", "--json", "fork-vm", "-p", "--count", "5",
                "--name", "fz", "parent");
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_INTERRUPTED);
        JsonNode j = JSON.readTree(r.out());
        assertThat(j.get("interrupted").asBoolean()).isTrue();
        assertThat(domids(j.get("forks"))).as("fork 2 was finished, none begun after the signal").containsExactly(3, 4);
        assertThat(j.get("forks").get(1).get("name").asText()).isEqualTo("fz-2");
        assertThat(j.get("parent").asInt()).isEqualTo(1);
        assertThat(j.get("parent_paused").asBoolean()).isTrue();
        assertThat(r.err()).contains("xenfork: stopped by a signal (SIGINT, SIGTERM or SIGHUP) before fork 3 of 5; "
                + "the forks made are kept: domains 3, 4; parent 1 stays paused");
        assertThat(domids()).as("no half-made fork").containsExactly(0, 1, 2, 3, 4);
        assertThat(sim.domain(4).orElseThrow().parent()).hasValue(1);
        assertThat(sim.name(4)).hasValue("fz-2");
        assertThat(sim.domain(1).orElseThrow().isPaused()).isTrue();
        for (Thread h : hooks) {
            h.join(); // returns because the command settled (else only after SignalStop.GRACE, past the timeout)
        }
        assertThat(hooks).hasSize(1);
        assertThat(r.err()).doesNotContain("did not reach a safe point");
    }

    @Test
    @Timeout(20)
    void ctrlCMidCountInTextKeepsStdoutToTheDomidsMade() throws Exception {
        List<Thread> hooks = new ArrayList<>();
        Run r = signalledAfter(createdomain(1), hooks, "--backend", "sim", "fork-vm", "--count", "3", "1");
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_INTERRUPTED);
        assertThat(r.out()).isEqualTo("3\n");
        assertThat(r.err()).contains("stopped by a signal (SIGINT, SIGTERM or SIGHUP) before fork 2 of 3; the forks "
                + "made are kept: domain 3; parent 1 stays paused");
        assertThat(sim.domain(3).orElseThrow().isPaused()).as("finished as asked: running").isFalse();
        assertThat(domids()).containsExactly(0, 1, 2, 3);
        hooks.get(0).join();
    }

    @Test
    @Timeout(20)
    void aSignalBeforeAnyForkGivesTheRunningParentBack() throws Exception {
        List<Thread> hooks = new ArrayList<>();
        Run r = signalledAfter(SimCall.named("XEN_DOMCTL_pausedomain", 2), hooks, "--backend", "sim", "--json",
                "fork-vm", "--count", "4", "web");
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_INTERRUPTED);
        JsonNode j = JSON.readTree(r.out());
        assertThat(j.get("interrupted").asBoolean()).isTrue();
        assertThat(j.get("forks")).isEmpty();
        assertThat(j.get("parent_paused").asBoolean()).isFalse();
        assertThat(r.err()).contains("stopped by a signal (SIGINT, SIGTERM or SIGHUP) before fork 1 of 4; "
                + "unpaused parent 2 again");
        assertThat(domids()).containsExactly(0, 1, 2);
        assertThat(sim.domain(2).orElseThrow().isPaused()).isFalse();
        hooks.get(0).join();
    }

    @Test
    @Timeout(20)
    void aSignalAfterTheLastStepStillSaysSo() throws Exception {
        List<Thread> hooks = new ArrayList<>();
        Run r = signalledAfter(SimCall.named("XEN_DOMCTL_unpausedomain", 3), hooks, "--backend", "sim", "--json",
                "fork-vm", "1");
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_INTERRUPTED);
        JsonNode j = JSON.readTree(r.out());
        assertThat(domids(j.get("forks"))).containsExactly(3);
        assertThat(j.get("interrupted").asBoolean()).isTrue();
        assertThat(r.err()).contains("came after the work was done; what was printed stands");
        hooks.get(0).join();
    }

    @Test
    void withoutASignalNothingChangesAndNoHookStays() {
        Run r = xenfork(CommandRunner::parentAndWeb, "--backend", "sim", "--json", "fork-vm", "--count", "2", "1");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("[{\"domid\":3,");
        assertThat(top.signals.request().requested()).isFalse();
        // fork-vm installed the hook and settle() removed it: removing it again says it was not there
        assertThat(top.signals.installedHook()).isNotNull();
        assertThat(Runtime.getRuntime().removeShutdownHook(top.signals.installedHook())).isFalse();
    }

    /**
     * The real thing: a JVM running {@code fork-vm --count 5} as bin/xenfork does, held right after fork 2's
     * createdomain, gets a real signal from {@code kill}. Its own exit code, its stdout's JSON, and its
     * {@code --trace} of every hypercall show that it stopped after finishing fork 2 and left nothing half-made.
     */
    @ParameterizedTest(name = "SIG{0}")
    @CsvSource({"INT, 2, 130", "TERM, 15, 143"})
    @Timeout(120)
    void aRealSignalMidCountLeavesWholeForksListedInValidJson(String signal, int number, int exit) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                "-cp", System.getProperty("java.class.path"), HeldXenfork.class.getName(),
                "--backend", "sim", "--json", "--trace", "fork-vm", "-p", "--count", "5", "parent").start();
        List<String> err = new ArrayList<>();
        try (BufferedReader e = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = e.readLine()) != null && !line.startsWith("held: ")) {
                err.add(line);
            }
            assertThat(line).as("the child reached its hold; it said: " + err).isNotNull();
            assertThat(ignored(p.pid(), number)).as("SIG" + signal + " is ignored in the child (inherited from this "
                    + "test's JVM, started in the background?), so no signal test can run here").isFalse();
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start();
            assertThat(kill.waitFor()).isZero();
            e.lines().forEach(err::add);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(String.join("\n", err)).isEqualTo(exit);
        assertThat(out).as("stdout: one JSON document, even so").isNotBlank();

        JsonNode j = JSON.readTree(out);
        assertThat(j.get("interrupted").asBoolean()).isTrue();
        assertThat(domids(j.get("forks"))).containsExactly(2, 3);
        assertThat(j.get("parent_paused").asBoolean()).isTrue();
        String trace = String.join("\n", err);
        assertThat(trace).contains("xenfork: stopped by a signal (SIGINT, SIGTERM or SIGHUP) before fork 3 of 5; "
                + "the forks made are kept: domains 2, 3; parent 1 stays paused");
        // every domain created was forked and is listed; none was left half-made or needed destroying
        assertThat(err).filteredOn(l -> l.equals("XEN_DOMCTL_createdomain -> 0")).hasSize(2);
        assertThat(err).filteredOn(l -> l.equals("XENMEM_sharing_op_fork -> 0")).hasSize(2);
        assertThat(trace).doesNotContain("XEN_DOMCTL_destroydomain").doesNotContain("did not reach a safe point");
    }

    /** Whether {@code pid} ignores signal {@code number} (its SigIgn mask in /proc). */
    private static boolean ignored(long pid, int number) throws IOException {
        String mask = Files.readAllLines(Path.of("/proc", Long.toString(pid), "status")).stream()
                .filter(l -> l.startsWith("SigIgn:")).findFirst().orElseThrow().substring(7).strip();
        return (Long.parseUnsignedLong(mask, 16) >>> (number - 1) & 1) != 0;
    }
}
