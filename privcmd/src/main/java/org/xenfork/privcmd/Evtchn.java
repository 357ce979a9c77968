package org.xenfork.privcmd;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * An open {@code /dev/xen/evtchn}: this process's ends of event channels to other domains,
 * as libxenevtchn's {@code xenevtchn_handle} is on Linux (tools/libs/evtchn/linux.c over the
 * driver drivers/xen/evtchn.c; the ioctls and their arguments are include/uapi/xen/evtchn.h's).
 * Each port bound through it belongs to this open file: closing it unbinds them all, and no
 * other handle can unbind or notify them.
 *
 * <pre>{@code
 * try (Evtchn evtchn = Evtchn.open(LinuxSeam.get())) {
 *     int port = evtchn.bindInterdomain(domid, ringPort);       // e.g. a vm_event ring's port
 *     while (evtchn.await(Duration.ofSeconds(1))) {
 *         for (int p : evtchn.pending()) {
 *             // ... take what the notification announced ...
 *             evtchn.unmask(p);                                 // p comes again only after this
 *         }
 *     }
 * }
 * }</pre>
 *
 * <p>How the driver delivers (Linux 5.10 and later, which ack event channels "late"): a
 * notification puts its port into this handle's ring once and leaves the port masked. More
 * notifications while it is masked are not queued (Xen keeps one pending bit per port);
 * {@link #unmask} lets the next one through, or delivers at once one that came meanwhile. A
 * new interdomain binding is delivered once right away, because Xen marks it pending in case
 * the other end notified before the bind: a consumer must expect a notification with nothing
 * new behind it.
 *
 * <p>Waiting: the fd is opened O_NONBLOCK, so {@link #pending()} never blocks. {@link #await}
 * polls the fd in slices of at most {@link #POLL_SLICE} and between them heeds
 * {@link #wakeUp()} (from any thread) and {@link Thread#interrupt()}: a Ctrl-C handler or a
 * deadline ends a wait within one slice, without a second fd (a pipe or eventfd) to wake the
 * poll, which would be one more native call and one more fd to leak. Idle, this costs one
 * poll(2) per slice.
 *
 * <p>Not thread-safe, but for {@link #wakeUp()}: one thread binds, waits, reads and unmasks.
 */
public final class Evtchn implements AutoCloseable {
    /** The longest single poll(2): how late at most a {@link #wakeUp()} or an interrupt is heard. */
    public static final Duration POLL_SLICE = Duration.ofMillis(50);

    /** Linux's structs, the same under every release. */
    private static final Abi ABI = Abi.anyRelease();
    private static final StructLayout BIND_INTERDOMAIN = ABI.struct("ioctl_evtchn_bind_interdomain");
    private static final Leaf BIND_REMOTE_DOMAIN = BIND_INTERDOMAIN.leaf("remote_domain");
    private static final Leaf BIND_REMOTE_PORT = BIND_INTERDOMAIN.leaf("remote_port");
    private static final StructLayout UNBIND = ABI.struct("ioctl_evtchn_unbind");
    private static final Leaf UNBIND_PORT = UNBIND.leaf("port");
    private static final StructLayout NOTIFY = ABI.struct("ioctl_evtchn_notify");
    private static final Leaf NOTIFY_PORT = NOTIFY.leaf("port");
    /** read(2) and write(2) move ports as {@code evtchn_port_t}, a uint32_t. */
    private static final int PORT_BYTES = Integer.BYTES;
    /** Deadlines further out than this (about 146 years) are waits without end. */
    private static final long LONGEST_WAIT_NANOS = Long.MAX_VALUE / 2;

    private final NativeSeam seam;
    private final int fd;
    /** Two anonymous pages: ioctl arguments and unmask writes in the first, read(2)'s ports in the second. */
    private final long scratch;
    private final long portsPage;
    private final AtomicBoolean wakeUpAsked = new AtomicBoolean();
    private boolean closed;

    private Evtchn(NativeSeam seam, int fd, long scratch) {
        this.seam = seam;
        this.fd = fd;
        this.scratch = scratch;
        this.portsPage = scratch + Linux.PAGE_SIZE;
    }

    /**
     * Opens {@code /dev/xen/evtchn} (O_RDWR, O_CLOEXEC, O_NONBLOCK), as {@code xenevtchn_open} does
     * but for O_NONBLOCK, which lets {@link #pending()} return empty instead of blocking.
     *
     * @throws XenEnvironmentException when this is no dom0, the driver is not loaded, or the caller is not root
     */
    public static Evtchn open(NativeSeam seam) {
        int fd;
        try {
            fd = seam.open(Linux.EVTCHN_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC | Linux.O_NONBLOCK);
        } catch (NativeException e) {
            throw XenEnvironmentException.forEvtchnOpen(e);
        }
        try {
            long scratch = seam.mmap(2L * Linux.PAGE_SIZE, Linux.PROT_READ | Linux.PROT_WRITE,
                    Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
            return new Evtchn(seam, fd, scratch);
        } catch (NativeException e) {
            closeQuietly(seam, fd);
            throw new XenEnvironmentException("cannot map two pages for " + Linux.EVTCHN_DEVICE + "'s arguments: "
                    + e.getMessage());
        }
    }

    /**
     * {@code IOCTL_EVTCHN_BIND_INTERDOMAIN}: binds a new local port to port {@code remotePort} of
     * domain {@code domid}, which must be unbound and allocated for this domain (dom0), as Xen
     * allocates a vm_event ring's port; returns the local port. The new port is delivered once
     * at once (see the class comment).
     *
     * @throws XenException ESRCH: no such domain; EINVAL: the remote port is not an unbound port
     *         allocated for dom0; ENOSPC: dom0 has no free port; EACCES: the handle is restricted
     * @throws IllegalArgumentException for a domain id outside 0..0x7fef or a negative port
     */
    public int bindInterdomain(int domid, int remotePort) {
        checkDomid(domid);
        checkPort("remote port", remotePort);
        byte[] arg = new byte[BIND_INTERDOMAIN.size()];
        BIND_REMOTE_DOMAIN.write(arg, 0, domid);
        BIND_REMOTE_PORT.write(arg, 0, remotePort);
        return ioctl("IOCTL_EVTCHN_BIND_INTERDOMAIN", Linux.IOCTL_EVTCHN_BIND_INTERDOMAIN, arg, domid, remotePort);
    }

    /**
     * {@code IOCTL_EVTCHN_UNBIND}: closes local port {@code port}, bound through this handle. Xen
     * puts the remote end back to unbound (allocated for dom0 still), so it can be bound again.
     * A notification already queued for the port may still come out of {@link #pending()}.
     *
     * @throws XenException ENOTCONN: this handle has no such port bound; EINVAL: the port is
     *         beyond those dom0's kernel has set up
     */
    public void unbind(int port) {
        checkPort("port", port);
        byte[] arg = new byte[UNBIND.size()];
        UNBIND_PORT.write(arg, 0, port);
        ioctl("IOCTL_EVTCHN_UNBIND", Linux.IOCTL_EVTCHN_UNBIND, arg, -1, port);
    }

    /**
     * {@code IOCTL_EVTCHN_NOTIFY}: notifies the remote end of local port {@code port}
     * ({@code EVTCHNOP_send}): for a vm_event ring, Xen looks at the responses. A remote end
     * that is gone (its domain destroyed) drops the notification silently, as Xen does.
     *
     * @throws XenException ENOTCONN: this handle has no such port bound
     */
    public void notifyRemote(int port) {
        checkPort("port", port);
        byte[] arg = new byte[NOTIFY.size()];
        NOTIFY_PORT.write(arg, 0, port);
        ioctl("IOCTL_EVTCHN_NOTIFY", Linux.IOCTL_EVTCHN_NOTIFY, arg, -1, port);
    }

    /**
     * {@code IOCTL_EVTCHN_RESET}: empties the ring of pending ports and clears its overflow
     * (after {@link #pending()} reported EFBIG). The ports that were queued stay masked:
     * {@link #unmask} each bound port afterwards, or it is never delivered again.
     */
    public void reset() {
        ioctl("IOCTL_EVTCHN_RESET", Linux.IOCTL_EVTCHN_RESET, new byte[0], -1, -1);
    }

    /**
     * read(2) of the fd: the ports notified since the last call, in the order they came, at most
     * 1024 (the driver copies one page); empty if none. Each stays masked until {@link #unmask}.
     * A port unbound after it was queued may still come: ignore ports you did not bind.
     *
     * @throws XenException EFBIG: the driver's ring overflowed, which takes ports unmasked before
     *         they were read; {@link #reset()} empties it
     */
    public int[] pending() {
        check();
        int n;
        try {
            n = seam.readFd(fd, portsPage, Linux.PAGE_SIZE);
        } catch (NativeException e) {
            if (e.errno() == Errno.EAGAIN) {
                return new int[0];
            }
            throw new XenException("read(" + Linux.EVTCHN_DEVICE + ")", -1, e.errno(), e.errno() == Errno.EFBIG
                    ? "the ring of pending ports overflowed (ports were unmasked before they were read); reset() "
                    + "empties it, then unmask every bound port" : XenException.hintFor("read", e.errno()));
        }
        byte[] bytes = new byte[n];
        seam.read(portsPage, bytes, 0, n);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int[] ports = new int[n / PORT_BYTES];
        for (int i = 0; i < ports.length; i++) {
            ports[i] = b.getInt(i * PORT_BYTES);
        }
        return ports;
    }

    /**
     * write(2) of {@code port} to the fd: unmasks a port {@link #pending()} returned, so that its
     * next notification (or one that came meanwhile) is delivered. The driver ignores a port this
     * handle has not bound, or one that is not masked.
     */
    public void unmask(int port) {
        checkPort("port", port);
        check();
        byte[] word = ByteBuffer.allocate(PORT_BYTES).order(ByteOrder.LITTLE_ENDIAN).putInt(port).array();
        seam.write(scratch, word, 0, PORT_BYTES);
        int n;
        try {
            n = seam.writeFd(fd, scratch, PORT_BYTES);
        } catch (NativeException e) {
            throw new XenException("write(" + Linux.EVTCHN_DEVICE + ")", -1, e.errno(),
                    "unmasking port " + port + ": " + XenException.hintFor("write", e.errno()));
        }
        if (n != PORT_BYTES) {
            throw new IllegalStateException("write(2) of one port to " + Linux.EVTCHN_DEVICE + " took " + n + " bytes");
        }
    }

    /**
     * Waits, with poll(2), until {@link #pending()} has something to say (ports, or EFBIG), the
     * timeout passes, or {@link #wakeUp()} is called: true in the first case. A wake-up asked for
     * while nobody waited makes the next call return false at once. Wake-ups and interrupts are
     * heard within {@link #POLL_SLICE}.
     *
     * @param timeout zero to look without waiting
     * @throws InterruptedException when the thread is interrupted (its flag is cleared, as usual)
     */
    public boolean await(Duration timeout) throws InterruptedException {
        check();
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("a negative timeout (" + timeout + ") for waiting on " + Linux.EVTCHN_DEVICE);
        }
        long budget = timeout.compareTo(Duration.ofNanos(LONGEST_WAIT_NANOS)) > 0 ? LONGEST_WAIT_NANOS : timeout.toNanos();
        long deadline = System.nanoTime() + budget;
        while (true) {
            if (Thread.interrupted()) {
                throw new InterruptedException("interrupted while waiting on " + Linux.EVTCHN_DEVICE);
            }
            if (wakeUpAsked.getAndSet(false)) {
                return false;
            }
            long left = deadline - System.nanoTime();
            int slice = (int) Math.min(POLL_SLICE.toMillis(), Math.max(0, ceilMillis(left)));
            int revents;
            try {
                revents = seam.poll(fd, Linux.POLLIN, slice);
            } catch (NativeException e) {
                if (e.errno() == Errno.EINTR) {
                    continue; // a signal: look at the interrupt flag and the clock again
                }
                throw new XenException("poll(" + Linux.EVTCHN_DEVICE + ")", -1, e.errno(), XenException.hintFor("poll", e.errno()));
            }
            if ((revents & Linux.POLLNVAL) != 0) {
                throw new IllegalStateException("fd " + fd + " of " + Linux.EVTCHN_DEVICE + " is not open (POLLNVAL)");
            }
            if ((revents & (Linux.POLLIN | Linux.POLLERR | Linux.POLLHUP)) != 0) {
                return true;
            }
            if (deadline - System.nanoTime() <= 0) {
                return false;
            }
        }
    }

    /**
     * Makes a running (or the next) {@link #await} return false within {@link #POLL_SLICE}. Safe
     * from any thread, a signal handler's or a {@code StopRequest}'s wake-up included.
     */
    public void wakeUp() {
        wakeUpAsked.set(true);
    }

    /** Closes the fd, which unbinds every port bound through it, and unmaps the argument pages. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            seam.munmap(scratch, 2L * Linux.PAGE_SIZE);
        } catch (NativeException e) {
            // Unmapping our own pages cannot fail short of a bug; the fd still gets closed.
        }
        closeQuietly(seam, fd);
    }

    /** One ioctl with {@code arg} as its argument; its result, or a XenException saying what it means. */
    private int ioctl(String call, int request, byte[] arg, int domid, int port) {
        check();
        seam.write(scratch, arg, 0, arg.length);
        try {
            return seam.ioctl(fd, request, scratch);
        } catch (NativeException e) {
            throw new XenException(call, domid, e.errno(), hint(call, e.errno(), domid, port));
        }
    }

    private static String hint(String call, int errno, int domid, int port) {
        String bound = "port " + port + " is not bound through this " + Linux.EVTCHN_DEVICE + " handle";
        return switch (errno) {
            case Errno.EINVAL -> call.equals("IOCTL_EVTCHN_BIND_INTERDOMAIN")
                    ? "port " + port + " of domain " + domid + " is not an unbound event channel allocated for domain 0:"
                    + " it is free, bound already (by another handle or process), or meant for another domain"
                    + " (a vm_event ring's port exists only while the ring is enabled)"
                    : "port " + port + " is beyond the event channels domain 0's kernel has set up; " + bound;
            case Errno.ENOTCONN -> bound;
            case Errno.ENOSPC -> "domain 0 has no free event channel port left; close handles that are not needed";
            case Errno.EACCES -> "this handle is restricted to another domain (IOCTL_EVTCHN_RESTRICT_DOMID)";
            default -> XenException.hintFor(call, errno);
        };
    }

    private static void checkDomid(int domid) {
        if (domid < 0 || domid >= Domid.FIRST_RESERVED) {
            throw new IllegalArgumentException("domain id " + domid + " is out of range: domain ids are 0 to "
                    + (Domid.FIRST_RESERVED - 1) + " (0x" + Integer.toHexString(Domid.FIRST_RESERVED - 1) + ")");
        }
    }

    private static void checkPort(String what, int port) {
        if (port < 0) {
            throw new IllegalArgumentException(what + " " + port + " is not an event channel port (they are 0 or more)");
        }
    }

    private void check() {
        if (closed) {
            throw new IllegalStateException(Linux.EVTCHN_DEVICE + " handle used after close");
        }
    }

    private static long ceilMillis(long nanos) {
        return nanos <= 0 ? 0 : TimeUnit.NANOSECONDS.toMillis(nanos + TimeUnit.MILLISECONDS.toNanos(1) - 1);
    }

    private static void closeQuietly(NativeSeam seam, int fd) {
        try {
            seam.close(fd);
        } catch (NativeException ignored) {
            // close(2) failing leaves nothing for us to undo.
        }
    }
}
