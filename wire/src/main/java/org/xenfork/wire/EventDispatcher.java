package org.xenfork.wire;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Hands events from a connection's reading thread to listeners on one thread of their own, in the order
 * they were read. The reading thread never runs listener code: a listener that made a synchronous call on
 * the connection from there would wait for an answer only that thread can read. The thread starts with the
 * first listener (a connection nobody listens to has none) and ends at {@link #close()}.
 *
 * <p>Each event goes to every listener registered when its turn comes, one listener after another; an
 * exception from one is logged and delivery goes on, to it and to the others. An event read while nobody
 * listens is not kept, and events still queued for a listener that unsubscribed are not given to it.
 *
 * <p>Policy when listeners fall behind: the queue holds {@code capacity} events, and at most {@code maxBytes}
 * of the peer's bytes (each event weighs what its message took on the wire: a parsed message can take many
 * times its text in heap, so a count alone would let a peer that sends few, huge events pin gigabytes).
 * {@link #deliver} never blocks the reading thread; when either bound is reached it throws, and the connection owning this dispatcher
 * must then fail (the xenstore and QMP clients close the connection, and callers see the message). Dropping
 * events silently would break whoever waits for one; queueing without limit would let a peer that can make
 * events fire (a guest writing its own xenstore nodes fires dom0's watches) grow dom0's heap without bound.
 */
public final class EventDispatcher<E> implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(EventDispatcher.class.getName());

    /** Wrapped so that one listener added twice gets two independent registrations. */
    private record Registration<E>(Consumer<? super E> listener) {
    }

    private record Queued<E>(E event, int bytes) {
    }

    private final String events;
    private final String threadName;
    private final String capacitySetting;
    private final int capacity;
    private final long maxBytes;
    private final String maxBytesSetting;
    /** Bytes of the events in {@link #queue}: added by the one reading thread, taken off by the delivering one. */
    private final AtomicLong queuedBytes = new AtomicLong();
    private final BlockingQueue<Queued<E>> queue;
    private final List<Registration<E>> listeners = new CopyOnWriteArrayList<>();
    private Thread thread; // guarded by this
    private volatile boolean closed;

    /**
     * @param events what the events are, for messages: {@code QMP events from /run/qmp.sock}
     * @param threadName the delivering thread's name
     * @param capacity events that may wait for listeners
     * @param capacitySetting where {@code capacity} is set, for the overflow message:
     *        {@code QmpOptions.eventQueueCapacity}
     * @param maxBytes the most bytes (as read from the peer) the waiting events may weigh together
     * @param maxBytesSetting where {@code maxBytes} comes from, for the overflow message
     */
    public EventDispatcher(String events, String threadName, int capacity, String capacitySetting, long maxBytes,
            String maxBytesSetting) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        if (maxBytes < 1) {
            throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
        }
        this.maxBytes = maxBytes;
        this.maxBytesSetting = Objects.requireNonNull(maxBytesSetting, "maxBytesSetting");
        this.events = Objects.requireNonNull(events, "events");
        this.threadName = Objects.requireNonNull(threadName, "threadName");
        this.capacitySetting = Objects.requireNonNull(capacitySetting, "capacitySetting");
        this.capacity = capacity;
        this.queue = new ArrayBlockingQueue<>(capacity);
    }

    /**
     * Registers {@code listener} for every event delivered from now on.
     *
     * @throws IllegalStateException if this dispatcher is closed
     */
    public Subscription subscribe(Consumer<? super E> listener) {
        Registration<E> r = new Registration<>(Objects.requireNonNull(listener, "listener"));
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the connection is closed; no more " + events + " will come");
            }
            if (thread == null) {
                thread = new Thread(this::run, threadName);
                thread.setDaemon(true);
                thread.start();
            }
            listeners.add(r);
        }
        return () -> listeners.remove(r);
    }

    /**
     * Queues {@code event} for the listeners; called by the connection's reading thread. Never blocks.
     *
     * @param bytes what the event's message took on the wire
     * @throws IOException if {@code capacity} events, or {@code maxBytes} of them, are already waiting: a listener
     *         is too slow or blocked, and the caller must fail its connection (see the class comment)
     */
    public void deliver(E event, int bytes) throws IOException {
        if (bytes < 0) {
            throw new IllegalArgumentException("an event cannot weigh " + bytes + " bytes");
        }
        if (listeners.isEmpty() || closed) {
            return;
        }
        long waiting = queuedBytes.get();
        if (waiting + bytes > maxBytes) {
            throw new IOException(events + " of " + waiting + " bytes are waiting for listeners and the next is " + bytes
                    + " bytes (" + maxBytesSetting + " = " + maxBytes + "); a listener is too slow or blocked");
        }
        if (!queue.offer(new Queued<>(event, bytes))) {
            throw new IOException(capacity + " " + events + " are waiting for listeners (" + capacitySetting + " = "
                    + capacity + "); a listener is too slow or blocked");
        }
        queuedBytes.addAndGet(bytes);
    }

    private void run() {
        while (!closed) {
            E event;
            try {
                Queued<E> next = queue.take();
                queuedBytes.addAndGet(-next.bytes());
                event = next.event();
            } catch (InterruptedException e) {
                return; // close()
            }
            for (Registration<E> r : listeners) {
                try {
                    r.listener().accept(event);
                } catch (RuntimeException | Error e) {
                    LOG.log(Level.WARNING, "a listener of " + events + " threw on " + shortly(event) + "; delivery goes on", e);
                }
            }
        }
    }

    /** An event's text cut short: a QMP event's data may run to a megabyte. */
    private static String shortly(Object event) {
        String text = String.valueOf(event);
        return text.length() <= 200 ? text : text.substring(0, 200) + "… (" + text.length() + " characters)";
    }

    /** Stops delivery and drops queued events. Waits up to 1 s for a listener call in progress. Idempotent. */
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
