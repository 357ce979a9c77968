package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.FakeQmpServer;

/**
 * Threads: all clients share one epoll thread, each listening client has one event thread, and after the
 * last client is closed — after success or failure — none of them is left once the loop's linger is over.
 */
class QmpThreadsTest {

    private static final Duration T = Duration.ofSeconds(5);
    /** The loop's default linger plus a margin for a loaded machine. */
    static final Duration AFTER_LINGER = Duration.ofMillis(QmpEventLoop.DEFAULT_LINGER_MILLIS).plusSeconds(5);

    /** Live threads of this module, by name. */
    static List<String> qmpThreads() {
        List<String> names = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.isAlive() && (t.getName().startsWith(QmpEventLoop.THREAD_PREFIX) || t.getName().startsWith(QmpClient.EVENTS_THREAD_PREFIX))) {
                names.add(t.getName());
            }
        }
        return names;
    }

    private static List<String> epollThreads() {
        return qmpThreads().stream().filter(n -> n.startsWith(QmpEventLoop.THREAD_PREFIX)).toList();
    }

    /** Waits (bounded) until no thread of this module is alive; returns those still there. */
    static List<String> awaitNoQmpThreads(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<String> left = qmpThreads();
        while (!left.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(10);
            left = qmpThreads();
        }
        return left;
    }

    @Test
    void clientsShareOneEpollThreadAndCloseLeavesNoThread(@TempDir Path dir) throws Exception {
        assertThat(awaitNoQmpThreads(AFTER_LINGER)).as("no QMP thread before (an earlier test leaked one)").isEmpty();
        List<FakeQmpServer> fakes = new ArrayList<>();
        List<QmpClient> clients = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                FakeQmpServer f = FakeQmpServer.start(dir.resolve("q" + i + ".sock"));
                fakes.add(f);
                QmpClient c = QmpClient.connect(f.socket(), T);
                clients.add(c);
                c.addEventListener(e -> { });
                c.queryStatus(T);
            }
            List<String> running = qmpThreads();
            assertThat(running.stream().filter(n -> n.startsWith(QmpEventLoop.THREAD_PREFIX))).hasSize(1);
            assertThat(running.stream().filter(n -> n.startsWith(QmpClient.EVENTS_THREAD_PREFIX))).hasSize(3);
            assertThat(QmpEventLoop.users()).isEqualTo(3);

            clients.get(0).close();
            assertThat(QmpEventLoop.users()).isEqualTo(2);
            assertThat(clients.get(1).queryStatus(T)).as("others unaffected").isEqualTo("prelaunch");

            fakes.get(1).disconnectAll(); // QEMU goes away under client 1: it must still release on close()
            Thread.sleep(50);
            for (QmpClient c : clients) {
                c.close();
            }
            assertThat(QmpEventLoop.users()).isZero();
            assertThat(qmpThreads()).as("event threads end at close").allMatch(n -> n.startsWith(QmpEventLoop.THREAD_PREFIX));
            assertThat(awaitNoQmpThreads(AFTER_LINGER)).isEmpty();
            assertThat(QmpEventLoop.running()).isFalse();
        } finally {
            clients.forEach(QmpClient::close);
            fakes.forEach(FakeQmpServer::close);
        }
    }

    @Test
    void failedConnectsLeaveNoThread(@TempDir Path dir) throws Exception {
        assertThat(awaitNoQmpThreads(AFTER_LINGER)).isEmpty();
        try (FakeQmpServer f = FakeQmpServer.start(dir.resolve("q.sock"))) {
            f.greeting(null);
            try {
                QmpClient.connect(f.socket(), Duration.ofMillis(100)).close();
            } catch (IOException expected) {
                // no greeting
            }
            f.greeting("garbage");
            try {
                QmpClient.connect(f.socket(), T).close();
            } catch (IOException expected) {
                // protocol error
            }
        }
        assertThat(QmpEventLoop.users()).isZero();
        assertThat(awaitNoQmpThreads(AFTER_LINGER)).isEmpty();
    }

    @Test
    void aConnectWithinTheLingerReusesTheLoopWhichEndsAfterIt(@TempDir Path dir) throws Exception {
        assertThat(awaitNoQmpThreads(AFTER_LINGER)).isEmpty();
        try (FakeQmpServer f = FakeQmpServer.start(dir.resolve("q.sock"))) {
            try (QmpClient c = QmpClient.connect(f.socket(), T)) {
                c.queryStatus(T);
            }
            List<String> first = epollThreads();
            assertThat(first).hasSize(1);
            long closedAt = System.nanoTime();
            try (QmpClient c = QmpClient.connect(f.socket(), T)) {
                c.queryStatus(T);
                assertThat(epollThreads()).as("the lingering loop serves the next client").isEqualTo(first);
            }
            Thread.sleep(200);
            if (System.nanoTime() - closedAt < Duration.ofMillis(QmpEventLoop.DEFAULT_LINGER_MILLIS).toNanos()) {
                assertThat(QmpEventLoop.running()).as("still lingering 200 ms after the last close").isTrue();
            }
            assertThat(awaitNoQmpThreads(AFTER_LINGER)).isEmpty();
            assertThat(QmpEventLoop.running()).isFalse();
            // and it starts again
            try (QmpClient c = QmpClient.connect(f.socket(), T)) {
                assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
                assertThat(epollThreads()).hasSize(1).isNotEqualTo(first);
            }
        }
        assertThat(awaitNoQmpThreads(AFTER_LINGER)).isEmpty();
    }

    @Test
    void withoutLingerTheLastCloseEndsTheThread(@TempDir Path dir) throws Exception {
        assertThat(awaitNoQmpThreads(AFTER_LINGER)).isEmpty();
        String before = System.getProperty(QmpEventLoop.LINGER_PROPERTY);
        System.setProperty(QmpEventLoop.LINGER_PROPERTY, "0");
        try (FakeQmpServer f = FakeQmpServer.start(dir.resolve("q.sock"))) {
            for (int i = 0; i < 5; i++) {
                try (QmpClient c = QmpClient.connect(f.socket(), T)) {
                    assertThat(c.queryStatus(T)).isEqualTo("prelaunch");
                }
                assertThat(QmpEventLoop.running()).as("shut down at close").isFalse();
                // close() waited for the loop's termination; the thread itself exits right after.
                assertThat(awaitNoQmpThreads(Duration.ofSeconds(2))).isEmpty();
            }
        } finally {
            if (before == null) {
                System.clearProperty(QmpEventLoop.LINGER_PROPERTY);
            } else {
                System.setProperty(QmpEventLoop.LINGER_PROPERTY, before);
            }
        }
    }
}
