package org.xenfork.xenstore;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A registered watch; {@link #close()} unregisters it ({@code XS_UNWATCH}).
 * Obtained from {@link XenstoreClient#watch}.
 */
public final class XenstoreWatch implements AutoCloseable {

    /**
     * Receives watch events. Called on the client's single watch-dispatch thread,
     * one event at a time in arrival order; it may call the client (that thread is
     * not the one reading replies), but should not block for long: events queue up
     * behind it, and past the queue's bound the connection is closed.
     */
    @FunctionalInterface
    public interface Listener {
        void onEvent(XsWatchEvent event);
    }

    private final XenstoreClient client;
    private final String path;
    private final String token;
    private final AtomicBoolean closed = new AtomicBoolean();

    XenstoreWatch(XenstoreClient client, String path, String token) {
        this.client = client;
        this.path = path;
        this.token = token;
    }

    public String path() {
        return path;
    }

    public String token() {
        return token;
    }

    /** Unregisters; events already queued for this watch are dropped. Idempotent. */
    @Override
    public void close() throws IOException {
        if (closed.compareAndSet(false, true)) {
            client.unwatch(this);
        }
    }

    @Override
    public String toString() {
        return "watch " + path + " token " + token;
    }
}
