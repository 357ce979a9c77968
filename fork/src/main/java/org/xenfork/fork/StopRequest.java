package org.xenfork.fork;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * "Stop at the next safe point": what a signal handler (the command line's shutdown hook), a
 * test, or a fuzz loop's controller asks of a running workflow. The workflow does not stop where
 * it stands, which could leave a domain created but not yet forked: it looks at
 * {@link #requested()} at its safe points (between whole forks, before a fork's QEMU starts, while
 * it waits for that QEMU), finishes or rolls back what it was doing there, and throws a
 * {@link StoppedException} saying what was made and what was undone. A blocking wait registers a
 * wake-up with {@link #onRequest}, so a stop does not sit out the wait's timeout.
 *
 * <pre>{@code
 * StopRequest stop = new StopRequest();
 * Forker forker = new Forker(xen, names, System.err::println, stop);
 * // on another thread, e.g. a shutdown hook:  stop.request("a signal");
 * }</pre>
 *
 * <p>Thread-safe: requested from any thread, read by the workflow's.
 */
public final class StopRequest {
    private final AtomicReference<String> reason = new AtomicReference<>();
    private final Set<Runnable> wakeUps = ConcurrentHashMap.newKeySet();

    /** A registered wake-up; closing it unregisters it. */
    public interface Registration extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Asks the workflow to stop at its next safe point, and runs the registered wake-ups. Only the
     * first request counts (its reason stands); later ones do nothing.
     *
     * @param why what asked, for the message: {@code a signal (SIGINT, SIGTERM or SIGHUP)}
     */
    public void request(String why) {
        Objects.requireNonNull(why, "why");
        if (reason.compareAndSet(null, why)) {
            wakeUps.forEach(Runnable::run);
        }
    }

    /** Whether a stop was asked for. */
    public boolean requested() {
        return reason.get() != null;
    }

    /** What asked for the stop, or empty if nothing did. */
    public Optional<String> reason() {
        return Optional.ofNullable(reason.get());
    }

    /**
     * Runs {@code wakeUp} when a stop is requested (at once if one already was) until the returned
     * registration is closed. It runs on the requesting thread, so it must not block, and it may run
     * twice when the request races the registration (a wake-up such as offering to a queue does not mind).
     */
    public Registration onRequest(Runnable wakeUp) {
        Objects.requireNonNull(wakeUp, "wakeUp");
        wakeUps.add(wakeUp);
        if (requested()) {
            wakeUp.run();
        }
        return () -> wakeUps.remove(wakeUp);
    }

    /**
     * What a workflow throws at the safe point {@code where} once a stop was requested.
     *
     * @param where    {@code before fork 4 of 5}: where it stopped
     * @param kept     the forks made before it, which stay
     * @param rollback what was finished, undone or kept on purpose at that point
     */
    public StoppedException stopped(String where, List<Integer> kept, List<Undo> rollback) {
        return new StoppedException(reason().orElse("a stop request"), where, kept, rollback);
    }
}
