package org.xenfork.qmp;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * Hands events from the event loop to listeners on one thread of their own, in the order QEMU sent them.
 * The event loop never runs listener code: a listener that issued a synchronous command on the event loop
 * would wait for a reply only that thread can read. The thread starts with the first listener (a client
 * without listeners has none) and ends at {@link #close()}.
 *
 * <p>An event that arrives while no listener is registered is not kept. The queue is bounded: a listener
 * that falls {@code capacity} events behind makes {@link #deliver} fail and the connection close — losing
 * events silently or growing without limit are both worse than a loud failure.
 */
final class EventDispatcher implements AutoCloseable {

    static final String THREAD_PREFIX = "xenfork-qmp-events ";
    private static final System.Logger LOG = System.getLogger(EventDispatcher.class.getName());

    /** Wrapped so that one Consumer added twice gets two independent registrations. */
    private record Registration(Consumer<QmpEvent> listener) {
    }

    private final List<Registration> listeners = new CopyOnWriteArrayList<>();
    private final BlockingQueue<QmpEvent> queue;
    private final String name;
    private Thread thread; // guarded by this
    private volatile boolean closed;

    EventDispatcher(int capacity, String name) {
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.name = name;
    }

    QmpSubscription add(Consumer<QmpEvent> listener) {
        Registration r = new Registration(listener);
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("QMP client for " + name + " is closed; no events will come");
            }
            if (thread == null) {
                thread = new Thread(this::run, THREAD_PREFIX + name);
                thread.setDaemon(true);
                thread.start();
            }
            listeners.add(r);
        }
        return () -> listeners.remove(r);
    }

    /** Called on the event loop for each event; never blocks. */
    void deliver(QmpEvent event) throws IOException {
        if (listeners.isEmpty() || closed) {
            return;
        }
        if (!queue.offer(event)) {
            throw new IOException(queue.size() + " QMP events from " + name
                    + " are waiting for listeners (QmpOptions.eventQueueCapacity); a listener is too slow or blocked");
        }
    }

    private void run() {
        while (!closed) {
            QmpEvent event;
            try {
                event = queue.take();
            } catch (InterruptedException e) {
                return; // close()
            }
            for (Registration r : listeners) {
                try {
                    r.listener().accept(event);
                } catch (RuntimeException | Error e) {
                    // One faulty listener must not stop delivery to the others, nor to itself later.
                    LOG.log(Level.WARNING, "QMP event listener threw on " + event.name() + " from " + name, e);
                }
            }
        }
    }

    /** Stops delivery; queued events are dropped. Waits up to 1 s for a listener call in progress. */
    @Override
    public void close() {
        Thread t;
        synchronized (this) {
            closed = true;
            t = thread;
        }
        listeners.clear();
        if (t != null) {
            t.interrupt();
            if (Thread.currentThread() != t) {
                try {
                    t.join(1000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
