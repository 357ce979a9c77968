package org.xenfork.sim;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.TreeMap;
import java.util.function.IntSupplier;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;

/**
 * One open file of {@code /dev/xen/evtchn}: Linux's drivers/xen/evtchn.c ({@code per_user_data},
 * 5.10 and later, with late EOI) in dom0 of a {@link SimXen}, reached through a
 * {@link SimulatedSeam}.
 *
 * <ul>
 * <li>ioctl: {@code IOCTL_EVTCHN_BIND_INTERDOMAIN} (EFAULT, then Xen's errno; the new port
 *     starts enabled and its ring grows to hold every bound port: 64, then doubling),
 *     {@code IOCTL_EVTCHN_UNBIND} (EFAULT; EINVAL for a port beyond
 *     {@code xen_evtchn_nr_channels()}; ENOTCONN for a port not bound here), {@code IOCTL_EVTCHN_NOTIFY}
 *     (EFAULT; ENOTCONN; EVTCHNOP_send, whose result the driver ignores), {@code IOCTL_EVTCHN_RESET}
 *     (the ring emptied, its overflow cleared); any other request ENOSYS, but BIND_VIRQ,
 *     BIND_UNBOUND_PORT and RESTRICT_DOMID, which are real and not simulated
 *     (UnsupportedOperationException).</li>
 * <li>A notification on a bound, enabled port ({@code evtchn_interrupt}) disables it and queues
 *     it, or sets the overflow flag when the ring is full; a write of the port enables it again and
 *     unmasks it in Xen ({@code xen_irq_lateeoi}), which delivers one that came meanwhile.</li>
 * <li>read: the count rounded down to whole ports (0 reads nothing) and cut to a page; EFBIG after
 *     an overflow; EAGAIN when empty with O_NONBLOCK, else it waits (a Java interrupt is EINTR);
 *     EFAULT for a buffer the kernel cannot write, the ports staying queued.</li>
 * <li>write: whole ports, at most a page; EFAULT; ports not bound here, or enabled, ignored.</li>
 * <li>poll: always writable; readable while ports are queued; only POLLERR after an overflow.</li>
 * <li>release (close of the fd): every port unbound and closed in Xen.</li>
 * </ul>
 *
 * <p>Locks: the kernel's EVTCHNOP calls take the {@link SimXen}'s lock, then this file's; readers
 * and pollers wait on this file's alone, so a notification from another thread wakes them.
 */
final class EvtchnFile {
    /** evtchn_resize_ring: the first ring, then doubled while more ports are bound than it holds. */
    private static final int FIRST_RING_SIZE = 64;
    /** evtchn_port_t, a uint32_t. */
    private static final int PORT_BYTES = Integer.BYTES;

    private final SimXen xen;
    private final EventChannels channels;
    private final SimDomain dom0;
    private final boolean nonBlocking;
    private final StructLayout bindInterdomain;
    private final Leaf bindRemoteDomain;
    private final Leaf bindRemotePort;
    private final StructLayout unbind;
    private final Leaf unbindPort;
    private final StructLayout notify;
    private final Leaf notifyPort;
    /** The bound ports and whether each is enabled ({@code user_evtchn.enabled}). */
    private final TreeMap<Integer, Boolean> ports = new TreeMap<>();
    private final ArrayDeque<Integer> ring = new ArrayDeque<>();
    private int ringSize;
    private boolean overflow;

    EvtchnFile(SimXen xen, boolean nonBlocking) {
        this.xen = xen;
        this.channels = xen.eventChannels();
        this.dom0 = xen.dom0();
        this.nonBlocking = nonBlocking;
        Abi abi = Abi.forRelease(xen.release());
        this.bindInterdomain = abi.struct("ioctl_evtchn_bind_interdomain");
        this.bindRemoteDomain = bindInterdomain.leaf("remote_domain");
        this.bindRemotePort = bindInterdomain.leaf("remote_port");
        this.unbind = abi.struct("ioctl_evtchn_unbind");
        this.unbindPort = unbind.leaf("port");
        this.notify = abi.struct("ioctl_evtchn_notify");
        this.notifyPort = notify.leaf("port");
    }

    /** evtchn_ioctl. */
    int ioctl(int request, long arg, AddressSpace memory) throws NativeException {
        if (request == Linux.IOCTL_EVTCHN_BIND_INTERDOMAIN) {
            byte[] b = copyIn(memory, arg, bindInterdomain, "IOCTL_EVTCHN_BIND_INTERDOMAIN");
            // The driver copies the unsigned int into evtchn_bind_interdomain's domid_t.
            int remoteDomain = (int) (bindRemoteDomain.read(b, 0) & 0xffff);
            long remotePort = bindRemotePort.read(b, 0);
            synchronized (xen) {
                int port = xen("IOCTL_EVTCHN_BIND_INTERDOMAIN", () -> channels.bindInterdomain(dom0, remoteDomain, remotePort));
                bindToUser(port);
                return port;
            }
        } else if (request == Linux.IOCTL_EVTCHN_UNBIND) {
            long port = unbindPort.read(copyIn(memory, arg, unbind, "IOCTL_EVTCHN_UNBIND"), 0);
            synchronized (xen) {
                if (port >= channels.nrChannels()) {
                    throw new NativeException("ioctl(IOCTL_EVTCHN_UNBIND, port " + port + ")", Errno.EINVAL);
                }
                int p = bound(port, "IOCTL_EVTCHN_UNBIND");
                unbindFromUser(p);
                return 0;
            }
        } else if (request == Linux.IOCTL_EVTCHN_NOTIFY) {
            long port = notifyPort.read(copyIn(memory, arg, notify, "IOCTL_EVTCHN_NOTIFY"), 0);
            synchronized (xen) {
                int p = bound(port, "IOCTL_EVTCHN_NOTIFY");
                try {
                    channels.send(dom0, p);
                } catch (XenError ignored) {
                    // notify_remote_via_evtchn ignores EVTCHNOP_send's result
                }
                return 0;
            }
        } else if (request == Linux.IOCTL_EVTCHN_RESET) {
            synchronized (this) {
                ring.clear();
                overflow = false;
            }
            return 0;
        } else if (request == Linux.IOCTL_EVTCHN_BIND_VIRQ || request == Linux.IOCTL_EVTCHN_BIND_UNBOUND_PORT
                || request == Linux.IOCTL_EVTCHN_RESTRICT_DOMID) {
            throw new UnsupportedOperationException("ioctl 0x" + Integer.toHexString(request)
                    + " of /dev/xen/evtchn is not simulated");
        }
        throw new NativeException("ioctl(0x" + Integer.toHexString(request) + ")", Errno.ENOSYS);
    }

    /** evtchn_read. */
    int read(long buf, int count, AddressSpace memory) throws NativeException {
        int bytes = Math.min(count & -PORT_BYTES, Linux.PAGE_SIZE);
        if (bytes == 0) {
            return 0;
        }
        synchronized (this) {
            while (true) {
                if (overflow) {
                    throw new NativeException("read(" + Linux.EVTCHN_DEVICE + ")", Errno.EFBIG);
                }
                if (!ring.isEmpty()) {
                    break;
                }
                if (nonBlocking) {
                    throw new NativeException("read(" + Linux.EVTCHN_DEVICE + ")", Errno.EAGAIN);
                }
                waitOrEintr(0, "read(" + Linux.EVTCHN_DEVICE + ")");
            }
            int n = Math.min(ring.size(), bytes / PORT_BYTES);
            ByteBuffer out = ByteBuffer.allocate(n * PORT_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            ring.stream().limit(n).forEach(out::putInt);
            if (!memory.copyToUser(buf, out.array())) {
                throw new NativeException("read(" + Linux.EVTCHN_DEVICE + ")", Errno.EFAULT);
            }
            for (int i = 0; i < n; i++) {
                ring.removeFirst();
            }
            return n * PORT_BYTES;
        }
    }

    /** evtchn_write: enables and unmasks each port bound here that a notification disabled. */
    int write(long buf, int count, AddressSpace memory) throws NativeException {
        int bytes = Math.min(count & -PORT_BYTES, Linux.PAGE_SIZE);
        if (bytes == 0) {
            return 0;
        }
        byte[] in = memory.copyFromUser(buf, bytes);
        if (in == null) {
            throw new NativeException("write(" + Linux.EVTCHN_DEVICE + ")", Errno.EFAULT);
        }
        ByteBuffer b = ByteBuffer.wrap(in).order(ByteOrder.LITTLE_ENDIAN);
        synchronized (xen) {
            for (int i = 0; i < bytes / PORT_BYTES; i++) {
                int port = b.getInt(i * PORT_BYTES);
                boolean enable;
                synchronized (this) {
                    enable = Boolean.FALSE.equals(ports.get(port));
                    if (enable) {
                        ports.put(port, true);
                    }
                }
                if (enable) {
                    channels.unmask(dom0, port);
                }
            }
        }
        return bytes;
    }

    /** evtchn_poll, waiting as poll(2) does: at most {@code timeoutMillis}, 0 not at all, negative without limit. */
    int poll(int events, int timeoutMillis) throws NativeException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        synchronized (this) {
            while (true) {
                int mask = Linux.POLLOUT | Linux.POLLWRNORM;
                if (!ring.isEmpty()) {
                    mask |= Linux.POLLIN | Linux.POLLRDNORM;
                }
                if (overflow) {
                    mask = Linux.POLLERR;
                }
                int revents = mask & (events | Linux.POLLERR | Linux.POLLHUP);
                if (revents != 0 || timeoutMillis == 0) {
                    return revents;
                }
                long left = deadline - System.nanoTime();
                if (timeoutMillis > 0 && left <= 0) {
                    return 0;
                }
                waitOrEintr(timeoutMillis < 0 ? 0 : Math.max(1, left / 1_000_000L), "poll(" + Linux.EVTCHN_DEVICE + ")");
            }
        }
    }

    /** evtchn_release: every port bound here unbound and closed. */
    void release() {
        synchronized (xen) {
            Integer[] bound;
            synchronized (this) {
                bound = ports.keySet().toArray(new Integer[0]);
            }
            for (int port : bound) {
                unbindFromUser(port);
            }
            synchronized (this) {
                ring.clear();
            }
        }
    }

    /**
     * evtchn_interrupt, run by Xen's delivery under the simulator's lock: the port is disabled and
     * queued, or the ring overflows.
     */
    private void interrupt(int port) {
        synchronized (this) {
            if (!ports.containsKey(port)) {
                return; // being unbound
            }
            ports.put(port, false);
            if (ring.size() < ringSize) {
                ring.addLast(port);
            } else {
                overflow = true;
            }
            notifyAll();
        }
    }

    /** evtchn_bind_to_user: the port enabled, the ring grown to hold every bound port, the handler bound. */
    private void bindToUser(int port) {
        synchronized (this) {
            ports.put(port, true);
            while (ports.size() > ringSize) {
                ringSize = ringSize == 0 ? FIRST_RING_SIZE : 2 * ringSize;
            }
        }
        channels.bindUpcall(dom0, port, this::interrupt);
    }

    /** evtchn_unbind_from_user: the interrupt disabled and unbound, which closes the port in Xen. */
    private void unbindFromUser(int port) {
        channels.unbindUpcall(dom0, port);
        synchronized (this) {
            ports.remove(port);
        }
        try {
            channels.close(dom0, port);
        } catch (XenError e) {
            throw new IllegalStateException("closing dom0 port " + port + " failed with " + Errno.describe(e.errno())
                    + " (Linux would BUG() here)", e);
        }
    }

    /** The port if it is bound through this file, else ENOTCONN. */
    private synchronized int bound(long port, String ioctl) throws NativeException {
        if (port > Integer.MAX_VALUE || !ports.containsKey((int) port)) {
            throw new NativeException("ioctl(" + ioctl + ", port " + port + ")", Errno.ENOTCONN);
        }
        return (int) port;
    }

    private static byte[] copyIn(AddressSpace memory, long arg, StructLayout layout, String ioctl) throws NativeException {
        byte[] b = memory.copyFromUser(arg, layout.size());
        if (b == null) {
            throw new NativeException("ioctl(" + ioctl + ")", Errno.EFAULT);
        }
        return b;
    }

    /** A hypercall of the kernel's: Xen's -errno becomes the ioctl's errno. */
    private static int xen(String ioctl, IntSupplier call) throws NativeException {
        try {
            return call.getAsInt();
        } catch (XenError e) {
            throw new NativeException("ioctl(" + ioctl + ")", e.errno());
        }
    }

    /** wait_event_interruptible: a Java interrupt is a signal, EINTR (the thread's flag kept set). */
    private void waitOrEintr(long millis, String call) throws NativeException {
        try {
            wait(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NativeException(call, Errno.EINTR);
        }
    }
}
