package org.xenfork.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.xenfork.fork.StopRequest;

/**
 * What SIGINT (Ctrl-C), SIGTERM and SIGHUP do to a command that changes domains step by step
 * ({@code fork-vm}, {@code fork-launch-dm}): a JVM shutdown hook {@linkplain StopRequest#request
 * asks} the workflow to stop at its next safe point and waits, at most {@link #GRACE}, until the
 * command has finished or rolled back the step in progress and printed what it made
 * ({@link #settle}, which {@link Main} calls once the output is flushed). Then the hook returns and
 * the JVM exits as it does on a signal, with 128 + the signal's number: 130, 143, 129.
 *
 * <p>Why the hook only asks and waits: the JVM runs shutdown hooks while the main thread keeps
 * running, and halts the moment the hooks return. A hook that rolled back by itself would race
 * the main thread over the same domains (through a {@code Hypervisor} that is not thread-safe);
 * a hook that returned at once would let the JVM halt between createdomain and the fork; and
 * calling {@code System.exit} in a hook blocks for ever (exit waits for the hooks). So the main
 * thread, which owns the workflow, does the work, and the hook waits for it. A second signal
 * while the hook waits changes nothing (the JVM is already shutting down); SIGKILL does, and can
 * leave a half-made fork.
 */
final class SignalStop {
    /**
     * How long the hook waits for the command to reach a safe point: longer than the longest stretch in
     * which a stop is not heard, so that the JVM never halts mid-step. That stretch comes once QEMU has
     * said it is running: QMP connect and {@code query-status} (up to the start timeout, 60 s, each) and
     * {@code cont} (10 s); then the rollback, a QEMU that ignores SIGTERM for
     * {@code DeviceModelLauncher.Settings#stopTimeout} (5 s) and is killed, and the xenstore calls around it.
     * Only a QEMU that hangs there makes a stop take that long; any other stops within a hypercall or two.
     */
    static final Duration GRACE = Duration.ofSeconds(150);
    /** What asked for the stop, as messages say it (a shutdown hook cannot tell which signal came). */
    static final String REASON = "a signal (SIGINT, SIGTERM or SIGHUP)";

    private final StopRequest request = new StopRequest();
    private final CountDownLatch settled = new CountDownLatch(1);
    private Thread hook; // guarded by this
    private Thread installed; // guarded by this: the hook last added, kept after settle for tests to check
    private PrintWriter err = new PrintWriter(System.err, true);

    /**
     * Installs the shutdown hook (once): from now until {@link #settle} a signal stops the command's
     * workflow at its next safe point instead of ending the JVM where it stands.
     *
     * @return the request the command's workflow must heed (the one {@link Backend} gives its forker)
     */
    synchronized StopRequest install(PrintWriter messages) {
        if (hook == null && settled.getCount() > 0) {
            err = messages;
            Thread h = new Thread(this::onSignal, "xenfork-signal-stop");
            try {
                Runtime.getRuntime().addShutdownHook(h);
                hook = h;
                installed = h;
            } catch (IllegalStateException shuttingDown) {
                request.request(REASON); // a signal came before the hook was in: stop at the first safe point
            }
        }
        return request;
    }

    /** The hook {@link #install} added, or null; for tests, which check that {@link #settle} removed it. */
    synchronized Thread installedHook() {
        return installed;
    }

    /** The request a signal makes; never requested unless {@link #install} ran. */
    StopRequest request() {
        return request;
    }

    /**
     * The hook's body: what the JVM runs on a signal, and what in-process tests run in its place.
     * Asks for the stop, then waits for {@link #settle}, at most {@link #GRACE}.
     */
    void onSignal() {
        request.request(REASON);
        try {
            if (!settled.await(GRACE.toMillis(), TimeUnit.MILLISECONDS)) {
                PrintWriter e = messages();
                e.println("xenfork: the command did not reach a safe point within " + GRACE.toSeconds() + " s of "
                        + REASON + "; exiting anyway: look for a fork it left half-made with xenfork list, and "
                        + "remove it with xenfork destroy");
                e.flush();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * The command is done and its output flushed: a hook that is waiting returns (and the JVM exits),
     * and one that never ran is removed, so a signal from now on ends the JVM as usual.
     */
    synchronized void settle() {
        settled.countDown();
        if (hook != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it returns now that the command has settled
            }
            hook = null;
        }
    }

    private synchronized PrintWriter messages() {
        return err;
    }
}
