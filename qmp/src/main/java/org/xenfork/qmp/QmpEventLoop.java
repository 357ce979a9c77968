package org.xenfork.qmp;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.Future;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The one epoll event loop all QMP clients of this JVM share: one daemon thread named
 * {@code xenfork-qmp-epoll-…}, started by the first {@link #acquire()}. When the last client releases it,
 * it lingers for {@link #LINGER_PROPERTY} milliseconds (default {@value #DEFAULT_LINGER_MILLIS}) and then
 * shuts down, unless a client has acquired it meanwhile: a JVM with no open client ends up with no QMP
 * thread, and a caller that closes one client and opens the next (save on the parent's device model, then
 * talk to the fork's) does not pay for a new loop each time. With a linger of 0 the loop shuts down at
 * the last release, which waits for its thread to end. QMP traffic is a few small messages per operation;
 * one thread serves any number of connections. docs/QMP.md has the measured costs.
 *
 * <p>Native epoll is required, with no fallback to NIO: xenfork runs in a Linux dom0, and a silent fallback
 * would hide a broken install (a missing or mismatched native library) behind different behaviour.
 */
final class QmpEventLoop {

    static final String THREAD_PREFIX = "xenfork-qmp-epoll";
    /** System property: how long the idle loop lingers after the last client closed, in milliseconds. */
    static final String LINGER_PROPERTY = "xenfork.qmp.eventLoopLingerMillis";
    static final long DEFAULT_LINGER_MILLIS = 1000;

    private static EventLoopGroup group; // guarded by QmpEventLoop.class
    private static int users;
    /** When the last client left ({@link System#nanoTime()}); meaningful while {@code users == 0}. */
    private static long idleSince;
    /** A reaper task is pending on the loop: at most one, so a close does not wake the loop each time. */
    private static boolean reaperScheduled;

    private QmpEventLoop() {
    }

    static synchronized EventLoopGroup acquire() throws IOException {
        if (!Epoll.isAvailable()) {
            Throwable why = Epoll.unavailabilityCause();
            throw new IOException("the QMP client needs Netty's native epoll transport (Linux, x86_64: "
                    + "netty-transport-native-epoll:linux-x86_64), which cannot be used here: "
                    + (why == null ? "unknown reason" : why.toString()), why);
        }
        if (group == null) {
            group = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory(THREAD_PREFIX, true),
                    EpollIoHandler.newFactory());
            reaperScheduled = false;
        }
        users++;
        return group;
    }

    /**
     * Gives back one {@link #acquire()}. After the last one the loop shuts down once it has been idle for
     * the linger; with a linger of 0 it shuts down now and (unless called on the loop itself) this waits up
     * to {@code wait} for its thread to end.
     */
    static void release(EventLoopGroup released, Duration wait) {
        Future<?> termination;
        synchronized (QmpEventLoop.class) {
            if (released != group || --users > 0) {
                return;
            }
            idleSince = System.nanoTime();
            long linger = lingerMillis();
            if (linger > 0) {
                if (!reaperScheduled && schedule(released, linger)) {
                    reaperScheduled = true;
                }
                if (reaperScheduled) {
                    return;
                }
            }
            termination = group.shutdownGracefully(0, 2, TimeUnit.SECONDS);
            group = null;
        }
        if (!released.next().inEventLoop()) {
            termination.awaitUninterruptibly(wait.toMillis());
        }
    }

    private static boolean schedule(EventLoopGroup loop, long delayMillis) {
        try {
            loop.schedule(() -> reap(loop), delayMillis, TimeUnit.MILLISECONDS);
            return true;
        } catch (RejectedExecutionException e) {
            return false; // already shutting down
        }
    }

    /** On the loop: shut it down if it has been idle for the whole linger, else look again when it would have. */
    private static synchronized void reap(EventLoopGroup loop) {
        if (group != loop) {
            return;
        }
        reaperScheduled = false;
        if (users > 0) {
            return; // the release that makes it idle again schedules the next look
        }
        long linger = lingerMillis();
        long idleMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - idleSince);
        if (idleMillis >= linger) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS);
            group = null;
        } else if (schedule(loop, linger - idleMillis)) {
            reaperScheduled = true;
        }
    }

    private static long lingerMillis() {
        long value = Long.getLong(LINGER_PROPERTY, DEFAULT_LINGER_MILLIS);
        return Math.max(0, Math.min(value, TimeUnit.HOURS.toMillis(1)));
    }

    /** Clients holding the loop now (for tests). */
    static synchronized int users() {
        return users;
    }

    /** True while a loop exists, lingering or in use (for tests). */
    static synchronized boolean running() {
        return group != null;
    }
}
