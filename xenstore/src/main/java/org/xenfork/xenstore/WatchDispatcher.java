package org.xenfork.xenstore;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * Hands watch events from the reader thread to listeners on a thread of their
 * own. The reader must never run listener code: a listener that called the
 * client from the reader thread would wait for a reply only that thread can read.
 *
 * <p>The queue is bounded. A listener that falls hopelessly behind makes
 * {@link #deliver} fail, and the connection closes: losing events silently or
 * growing without limit (a guest can make a dom0 watch fire by writing its own
 * nodes) are both worse than a loud failure.
 */
final class WatchDispatcher implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(WatchDispatcher.class.getName());

    private final ConcurrentMap<String, XenstoreWatch.Listener> listeners = new ConcurrentHashMap<>();
    private final BlockingQueue<XsWatchEvent> queue;
    private final Thread thread;
    private volatile boolean closed;

    WatchDispatcher(int capacity, String name) {
        this.queue = new ArrayBlockingQueue<>(capacity);
        this.thread = new Thread(this::run, "xenstore-watch " + name);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** False if {@code token} is already in use on this client. */
    boolean register(String token, XenstoreWatch.Listener listener) {
        return listeners.putIfAbsent(token, listener) == null;
    }

    void unregister(String token) {
        listeners.remove(token);
    }

    /** Called by the reader thread for each {@code XS_WATCH_EVENT}; never blocks. */
    void deliver(XsMessage message) throws IOException {
        var strings = XsPayload.splitStrings(message.payload());
        if (strings.size() < 2) {
            throw new XenstoreProtocolException("XS_WATCH_EVENT without path and token: " + message);
        }
        if (!queue.offer(new XsWatchEvent(strings.get(0), strings.get(1)))) {
            throw new IOException(queue.size() + " watch events waiting for the listener; it is too slow or blocked");
        }
    }

    private void run() {
        while (!closed) {
            XsWatchEvent event;
            try {
                event = queue.take();
            } catch (InterruptedException e) {
                return; // close()
            }
            // Events for a token nobody listens to (any more): after an unwatch, xenstored may still have sent some.
            XenstoreWatch.Listener listener = listeners.get(event.token());
            if (listener == null) {
                continue;
            }
            try {
                listener.onEvent(event);
            } catch (RuntimeException | Error e) {
                // One faulty listener must not stop delivery to the others.
                LOG.log(Level.WARNING, "xenstore watch listener for token " + event.token() + " threw", e);
            }
        }
    }

    /** Stops delivery; queued events are dropped. Waits briefly for a listener call in progress. */
    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        if (Thread.currentThread() != thread) {
            try {
                thread.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
