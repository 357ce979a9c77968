package org.xenfork.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The dispatcher alone, with the test thread as the connection's reading thread. */
class EventDispatcherTest {

    private static final String THREAD = "wire-test-events";

    private static EventDispatcher<String> dispatcher(int capacity) {
        return new EventDispatcher<>("test events from here", THREAD, capacity, "Test.capacity", Long.MAX_VALUE, "Test.bytes");
    }

    private static boolean threadAlive() {
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.isAlive() && t.getName().equals(THREAD));
    }

    @Test
    void eventsReachEveryListenerInOrderOnTheDispatcherThread() throws Exception {
        try (EventDispatcher<String> d = dispatcher(100)) {
            BlockingQueue<String> a = new LinkedBlockingQueue<>();
            BlockingQueue<String> b = new LinkedBlockingQueue<>();
            AtomicReference<String> thread = new AtomicReference<>();
            d.subscribe(e -> {
                thread.set(Thread.currentThread().getName());
                a.add(e);
            });
            d.subscribe(b::add);
            for (int i = 0; i < 50; i++) {
                d.deliver("e" + i, 1);
            }
            for (int i = 0; i < 50; i++) {
                assertThat(a.poll(5, TimeUnit.SECONDS)).isEqualTo("e" + i);
                assertThat(b.poll(5, TimeUnit.SECONDS)).isEqualTo("e" + i);
            }
            assertThat(thread.get()).isEqualTo(THREAD);
        }
    }

    @Test
    void noThreadUntilTheFirstListenerAndNoneAfterClose() throws Exception {
        EventDispatcher<String> d = dispatcher(4);
        d.deliver("nobody listens: dropped", 1);
        assertThat(threadAlive()).isFalse();
        BlockingQueue<String> seen = new LinkedBlockingQueue<>();
        d.subscribe(seen::add);
        assertThat(threadAlive()).isTrue();
        d.deliver("heard", 1);
        assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("heard");
        assertThat(seen).isEmpty();
        d.close();
        d.close();
        assertThat(threadAlive()).isFalse();
        d.deliver("after close: dropped, no failure", 1);
        assertThatThrownBy(() -> d.subscribe(seen::add)).isInstanceOf(IllegalStateException.class)
                .hasMessage("the connection is closed; no more test events from here will come");
    }

    @Test
    void aThrowingListenerDoesNotStopDeliveryAndUnsubscribingDoes() throws Exception {
        try (EventDispatcher<String> d = dispatcher(8)) {
            BlockingQueue<String> seen = new LinkedBlockingQueue<>();
            d.subscribe(e -> {
                throw new IllegalStateException("listener bug on " + e);
            });
            Subscription s = d.subscribe(seen::add);
            d.deliver("A", 1);
            d.deliver("B", 1);
            assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("A");
            assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("B");
            s.close();
            s.close();
            CountDownLatch passed = new CountDownLatch(1);
            d.subscribe(e -> passed.countDown());
            d.deliver("C", 1);
            assertThat(passed.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(seen).isEmpty();
        }
    }

    @Test
    void theSameListenerTwiceIsTwoRegistrations() throws Exception {
        try (EventDispatcher<String> d = dispatcher(8)) {
            List<String> seen = new ArrayList<>();
            CountDownLatch both = new CountDownLatch(2);
            java.util.function.Consumer<String> l = e -> {
                synchronized (seen) {
                    seen.add(e);
                }
                both.countDown();
            };
            Subscription first = d.subscribe(l);
            d.subscribe(l);
            first.close();
            d.deliver("x", 1);
            assertThat(both.await(300, TimeUnit.MILLISECONDS)).as("one registration is left").isFalse();
            synchronized (seen) {
                assertThat(seen).containsExactly("x");
            }
        }
    }

    @Test
    void aBlockedListenerMakesDeliverFailOnceTheQueueIsFullAndNeverBlocksTheReader() throws Exception {
        try (EventDispatcher<String> d = dispatcher(3)) {
            CountDownLatch inListener = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            d.subscribe(e -> {
                inListener.countDown();
                try {
                    release.await();
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            });
            d.deliver("taken by the listener", 1);
            assertThat(inListener.await(5, TimeUnit.SECONDS)).isTrue();
            d.deliver("1", 1);
            d.deliver("2", 1);
            d.deliver("3", 1);
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> d.deliver("4", 1)).isInstanceOf(IOException.class)
                    .hasMessage("3 test events from here are waiting for listeners (Test.capacity = 3); "
                            + "a listener is too slow or blocked");
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(1000);
            release.countDown();
        }
    }

    @Test
    void aBlockedListenerMakesDeliverFailOnceTheWaitingEventsWeighMaxBytes() throws Exception {
        try (EventDispatcher<String> d = new EventDispatcher<>("test events from here", THREAD, 1000, "Test.capacity",
                100, "Test.bytes")) {
            CountDownLatch inListener = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            BlockingQueue<String> seen = new LinkedBlockingQueue<>();
            d.subscribe(e -> {
                inListener.countDown();
                try {
                    release.await();
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
                seen.add(e);
            });
            d.deliver("taken by the listener", 100);
            assertThat(inListener.await(5, TimeUnit.SECONDS)).isTrue();
            d.deliver("60", 60);
            d.deliver("40", 40);
            assertThatThrownBy(() -> d.deliver("one more byte", 1)).isInstanceOf(IOException.class)
                    .hasMessage("test events from here of 100 bytes are waiting for listeners and the next is 1 bytes "
                            + "(Test.bytes = 100); a listener is too slow or blocked");
            release.countDown();
            for (String e : List.of("taken by the listener", "60", "40")) {
                assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo(e);
            }
            d.deliver("the bytes taken off are free again", 100);
            assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("the bytes taken off are free again");
        }
    }

    @Test
    void closeFromAListenerDoesNotWaitForItself() throws Exception {
        EventDispatcher<String> d = dispatcher(4);
        CountDownLatch closed = new CountDownLatch(1);
        d.subscribe(e -> {
            d.close();
            closed.countDown();
        });
        d.deliver("close now", 1);
        assertThat(closed.await(5, TimeUnit.SECONDS)).isTrue();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (threadAlive() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(threadAlive()).isFalse();
    }

    @Test
    void capacityMustBePositive() {
        assertThatThrownBy(() -> dispatcher(0)).isInstanceOf(IllegalArgumentException.class);
    }
}
