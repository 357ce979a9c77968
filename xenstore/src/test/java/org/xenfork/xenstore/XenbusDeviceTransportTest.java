package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.FakeXenstored;
import org.xenfork.testfixtures.SpecialFiles;

/**
 * The {@code /dev/xen/xenbus} transport, with named pipes standing in for the
 * character device (no Xen here): a FIFO pair to the fake xenstored, and a single
 * FIFO looped back on itself to exercise {@link XenbusDeviceTransport#open} itself.
 */
class XenbusDeviceTransportTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(3);

    @TempDir
    Path dir;

    private FakeXenstored fake;
    private XenstoreClient xs;

    /** O_RDWR so that opening a FIFO end never blocks waiting for the other side. */
    static FileChannel openRw(Path fifo) throws IOException {
        return FileChannel.open(fifo, StandardOpenOption.READ, StandardOpenOption.WRITE);
    }

    @BeforeEach
    void start() throws Exception {
        Path toServer = SpecialFiles.fifo(dir.resolve("to-xenstored"));
        Path toClient = SpecialFiles.fifo(dir.resolve("to-client"));
        FileChannel serverIn = openRw(toServer);
        FileChannel serverOut = openRw(toClient);
        fake = FakeXenstored.serving(serverIn, serverOut, () -> {
            serverIn.close();
            serverOut.close();
        });
        xs = XenstoreClient.over(new XenbusDeviceTransport(dir.resolve("xenbus"), openRw(toClient), openRw(toServer)), TIMEOUT);
    }

    @AfterEach
    void stop() throws IOException {
        xs.close();
        fake.close();
    }

    @Test
    void operationsAndWatchEventsWorkOverTheDevice() throws Exception {
        assertThat(xs.describe()).isEqualTo("xenbus device " + dir.resolve("xenbus"));
        XenstoreClientTest.Events events = new XenstoreClientTest.Events();
        xs.watch("/dev", events);
        events.next();
        xs.write("/dev/a", "1");
        assertThat(events.next().path()).isEqualTo("/dev/a");
        assertThat(xs.read("/dev/a")).contains("1");
        assertThat(xs.directory("/dev")).containsExactly("a");
        xs.transaction(tx -> {
            tx.write("/dev/b", "2");
            return null;
        });
        assertThat(xs.read("/dev/b")).contains("2");
    }

    @Test
    void onlyOneRequestIsOutstandingAtATime() throws Exception {
        fake.inject(new FakeXenstored.Fault.Delay(Duration.ofMillis(400)));
        CompletableFuture<?> first = CompletableFuture.runAsync(() -> read("/first"));
        while (fake.received().isEmpty()) {
            Thread.sleep(2);
        }
        read("/second");
        first.get(5, TimeUnit.SECONDS);
        List<FakeXenstored.Received> r = fake.received();
        // The second request reached the server only once the first had its reply.
        assertThat(Duration.ofNanos(r.get(1).nanoTime() - r.get(0).nanoTime())).isGreaterThanOrEqualTo(Duration.ofMillis(350));
    }

    /** The control for the test above: over the socket, the second request goes out at once. */
    @Test
    void overTheSocketRequestsOverlap(@TempDir Path socketDir) throws Exception {
        try (FakeXenstored socketFake = FakeXenstored.start(socketDir);
                XenstoreClient socketClient = XenstoreClient.connect(socketFake.socketPath(), TIMEOUT)) {
            socketFake.inject(new FakeXenstored.Fault.Delay(Duration.ofMillis(400)));
            CompletableFuture<?> first = CompletableFuture.runAsync(() -> read(socketClient, "/first"));
            while (socketFake.received().isEmpty()) {
                Thread.sleep(2);
            }
            read(socketClient, "/second");
            first.get(5, TimeUnit.SECONDS);
            List<FakeXenstored.Received> r = socketFake.received();
            assertThat(Duration.ofNanos(r.get(1).nanoTime() - r.get(0).nanoTime())).isLessThan(Duration.ofMillis(350));
        }
    }

    private void read(String path) {
        read(xs, path);
    }

    private static void read(XenstoreClient client, String path) {
        try {
            client.read(path);
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    /**
     * {@link XenbusDeviceTransport#open} on one FIFO: every request comes straight back
     * as its own "reply". A write must get through while the reader thread is blocked
     * reading the same descriptor, and close must wake that reader.
     */
    @Test
    void openWritesWhileItsReaderBlocksAndCloseWakesTheReader() throws Exception {
        Path loop = SpecialFiles.fifo(dir.resolve("loop"));
        try (FileChannel keepOpen = openRw(loop)) { // a second opener, so the FIFO never sees EOF
            assertThat(keepOpen.isOpen()).isTrue();
            XenstoreClient looped = XenstoreClient.openXenbus(loop, TIMEOUT);
            Thread.sleep(100); // let the reader block first
            String echoed = assertTimeoutPreemptively(Duration.ofSeconds(5), () -> looped.getDomainPath(5));
            assertThat(echoed).isEqualTo("5"); // the request payload "5\0", read back as the reply
            assertTimeoutPreemptively(Duration.ofSeconds(5), looped::close);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (System.nanoTime() < deadline && readerAlive(loop)) {
                Thread.sleep(10);
            }
            assertThat(readerAlive(loop)).as("reader thread woken by close").isFalse();
        }
    }

    private static boolean readerAlive(Path device) {
        return Thread.getAllStackTraces().keySet().stream()
                .anyMatch(t -> t.isAlive() && t.getName().equals("xenstore-reader xenbus device " + device));
    }

    @Test
    void missingDeviceIsNotCreated() {
        Path missing = dir.resolve("no-such-device");
        assertThatThrownBy(() -> XenstoreClient.openXenbus(missing, TIMEOUT))
                .isInstanceOf(NoSuchFileException.class).hasMessageContaining("cannot open " + missing);
        assertThat(missing).doesNotExist();
    }

    @Test
    void regularFileIsRefused() throws IOException {
        Path plain = Files.writeString(dir.resolve("plain"), "not a device");
        assertThatThrownBy(() -> XenstoreClient.openXenbus(plain, TIMEOUT))
                .isInstanceOf(IOException.class).hasMessage("cannot open " + plain + ": not a character device");
    }

    @Test
    void connectFallsBackToTheDeviceWhenNoSocketExists() throws Exception {
        Path loop = SpecialFiles.fifo(dir.resolve("xenbus-fallback"));
        try (FileChannel keepOpen = openRw(loop);
                XenstoreClient c = XenstoreClient.connect(List.of(dir.resolve("no-socket")), loop, TIMEOUT)) {
            assertThat(keepOpen.isOpen()).isTrue();
            assertThat(c.describe()).isEqualTo("xenbus device " + loop);
        }
    }
}
