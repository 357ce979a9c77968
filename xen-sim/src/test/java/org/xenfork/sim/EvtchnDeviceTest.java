package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.xenfork.abi.Abi;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;

/**
 * {@code /dev/xen/evtchn} at the seam, below privcmd's {@code Evtchn}: the driver's
 * (drivers/xen/evtchn.c) ioctl, read, write and poll as a C caller sees them, for what
 * {@code Evtchn} never sends (odd counts, bad buffers, blocking reads, foreign ioctls).
 */
class EvtchnDeviceTest {
    private static final int RW = Linux.PROT_READ | Linux.PROT_WRITE;
    /** An address the simulated process never maps (mappings start far above it). */
    private static final long UNMAPPED = 0x1000;

    private final SimXen xen = SimXen.create(XenRelease.parse("4.17"));
    private final SimulatedSeam seam = new SimulatedSeam(xen);
    private final Abi abi = Abi.forRelease(xen.release());
    private final int guest = xen.addGuest(GuestSpec.hvm("guest", 1, 4096)).domid();
    private final long page;

    EvtchnDeviceTest() throws NativeException {
        page = seam.mmap(2L * Linux.PAGE_SIZE, RW, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
    }

    @AfterEach
    void nothingLeaks() throws NativeException {
        seam.munmap(page, 2L * Linux.PAGE_SIZE);
        assertThat(seam.mappingCount()).isZero();
    }

    private static int errno(ThrowingCall call) {
        try {
            call.run();
        } catch (NativeException e) {
            return e.errno();
        }
        throw new AssertionError("expected a NativeException");
    }

    interface ThrowingCall {
        void run() throws NativeException;
    }

    private int open(int flags) throws NativeException {
        return seam.open(Linux.EVTCHN_DEVICE, flags | Linux.O_CLOEXEC);
    }

    /** IOCTL_EVTCHN_BIND_INTERDOMAIN with the struct encoded through the abi, as a C caller fills it. */
    private int bind(int fd, long remoteDomain, long remotePort) throws NativeException {
        byte[] arg = StructCodec.encode(abi.struct("ioctl_evtchn_bind_interdomain"),
                Map.of("remote_domain", Long.toString(remoteDomain), "remote_port", Long.toString(remotePort)));
        seam.write(page, arg, 0, arg.length);
        return seam.ioctl(fd, Linux.IOCTL_EVTCHN_BIND_INTERDOMAIN, page);
    }

    private int[] read(int fd, int count) throws NativeException {
        int n = seam.readFd(fd, page, count);
        byte[] b = new byte[n];
        seam.read(page, b, 0, n);
        int[] ports = new int[n / 4];
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(ports);
        return ports;
    }

    private int write(int fd, int... ports) throws NativeException {
        ByteBuffer b = ByteBuffer.allocate(4 * ports.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int p : ports) {
            b.putInt(p);
        }
        seam.write(page, b.array(), 0, b.capacity());
        return seam.writeFd(fd, page, b.capacity());
    }

    @Test
    void readTakesWholePortsUpToWhatFits() throws NativeException {
        int fd = open(Linux.O_RDWR | Linux.O_NONBLOCK);
        int a = bind(fd, guest, xen.guestAllocUnbound(guest, 0));
        int b = bind(fd, guest, xen.guestAllocUnbound(guest, 0));
        assertThat(seam.readFd(fd, page, 3)).as("less than a port: nothing, nothing taken").isZero();
        assertThat(read(fd, 7)).as("rounded down to one port").containsExactly(a);
        assertThat(read(fd, 64)).containsExactly(b);
        assertThat(errno(() -> seam.readFd(fd, page, 4))).as("empty, O_NONBLOCK").isEqualTo(Errno.EAGAIN);
        assertThat(seam.readFd(fd, page, 3)).as("less than a port: 0 before looking at the ring").isZero();
        assertThat(seam.writeFd(fd, UNMAPPED, 3)).as("less than a port: 0 before copying").isZero();
        seam.close(fd);
    }

    @Test
    void oneReadHandsOverOnePageOfPorts() throws NativeException {
        int fd = open(Linux.O_RDWR | Linux.O_NONBLOCK);
        int ports = Linux.PAGE_SIZE / 4 + 76;
        for (int i = 0; i < ports; i++) {
            bind(fd, guest, xen.guestAllocUnbound(guest, 0)); // each new binding is delivered once
        }
        assertThat(seam.readFd(fd, page, 2 * Linux.PAGE_SIZE)).isEqualTo(Linux.PAGE_SIZE);
        assertThat(seam.readFd(fd, page, 2 * Linux.PAGE_SIZE)).isEqualTo(76 * 4);
        // dom0's ports now reach past 1024: Linux grew its FIFO event array to a second page
        int unbind = abi.struct("ioctl_evtchn_unbind").size();
        seam.write(page, ByteBuffer.allocate(unbind).order(ByteOrder.LITTLE_ENDIAN).putInt(2000).array(), 0, unbind);
        assertThat(errno(() -> seam.ioctl(fd, Linux.IOCTL_EVTCHN_UNBIND, page))).isEqualTo(Errno.ENOTCONN);
        seam.write(page, ByteBuffer.allocate(unbind).order(ByteOrder.LITTLE_ENDIAN).putInt(2048).array(), 0, unbind);
        assertThat(errno(() -> seam.ioctl(fd, Linux.IOCTL_EVTCHN_UNBIND, page))).isEqualTo(Errno.EINVAL);
        // write likewise takes at most a page; ports not bound here (0) are ignored
        seam.write(page, new byte[2 * Linux.PAGE_SIZE], 0, 2 * Linux.PAGE_SIZE);
        assertThat(seam.writeFd(fd, page, 2 * Linux.PAGE_SIZE)).isEqualTo(Linux.PAGE_SIZE);
        seam.close(fd);
    }

    @Test
    void aBufferTheKernelCannotReachIsEfaultAndLosesNothing() throws NativeException {
        int fd = open(Linux.O_RDWR | Linux.O_NONBLOCK);
        int a = bind(fd, guest, xen.guestAllocUnbound(guest, 0));
        long readOnly = seam.mmap(Linux.PAGE_SIZE, Linux.PROT_READ, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
        try {
            assertThat(errno(() -> seam.readFd(fd, readOnly, 4))).isEqualTo(Errno.EFAULT);
            assertThat(errno(() -> seam.readFd(fd, UNMAPPED, 4))).isEqualTo(Errno.EFAULT);
            assertThat(read(fd, 4)).as("still queued").containsExactly(a);
            assertThat(errno(() -> seam.writeFd(fd, UNMAPPED, 4))).isEqualTo(Errno.EFAULT);
            for (int request : new int[] {Linux.IOCTL_EVTCHN_BIND_INTERDOMAIN, Linux.IOCTL_EVTCHN_UNBIND,
                Linux.IOCTL_EVTCHN_NOTIFY}) {
                assertThat(errno(() -> seam.ioctl(fd, request, UNMAPPED))).as("ioctl 0x%x", request).isEqualTo(Errno.EFAULT);
            }
        } finally {
            seam.munmap(readOnly, Linux.PAGE_SIZE);
            seam.close(fd);
        }
    }

    @Test
    void writeUnmasksOnlyPortsBoundHere() throws NativeException {
        int xenPort = xen.allocUnboundXenEventChannel(guest, p -> { });
        int fd = open(Linux.O_RDWR | Linux.O_NONBLOCK);
        int other = open(Linux.O_RDWR | Linux.O_NONBLOCK);
        int a = bind(fd, guest, xenPort);
        assertThat(read(fd, 4)).containsExactly(a);
        xen.notifyViaXenEventChannel(guest, xenPort);
        assertThat(write(other, a)).as("another file's port: ignored, whole count").isEqualTo(4);
        assertThat(xen.eventChannel(0, a).orElseThrow().masked()).isTrue();
        assertThat(write(fd, a)).isEqualTo(4);
        assertThat(read(fd, 4)).containsExactly(a);
        assertThat(seam.writeFd(fd, page, 3)).as("less than a port: nothing").isZero();
        seam.close(other);
        seam.close(fd);
    }

    @Test
    void anOverflowedRingPollsAsPollerrAlone() throws NativeException {
        int xenPort = xen.allocUnboundXenEventChannel(guest, p -> { });
        int fd = open(Linux.O_RDWR | Linux.O_NONBLOCK);
        int local = bind(fd, guest, xenPort);
        for (int i = 0; i < 64; i++) { // unmasked before read: the same port fills the ring of 64, then overflows
            write(fd, local);
            xen.notifyViaXenEventChannel(guest, xenPort);
        }
        assertThat(seam.poll(fd, Linux.POLLIN | Linux.POLLOUT, 0)).isEqualTo(Linux.POLLERR);
        assertThat(errno(() -> seam.readFd(fd, page, 4))).isEqualTo(Errno.EFBIG);
        assertThat(seam.ioctl(fd, Linux.IOCTL_EVTCHN_RESET, 0)).isZero();
        assertThat(seam.poll(fd, Linux.POLLIN | Linux.POLLOUT, 0)).isEqualTo(Linux.POLLOUT);
        seam.close(fd);
    }

    @Test
    void theRemoteDomainIsCutToDomidTAsTheDriverCopiesIt() throws NativeException {
        int fd = open(Linux.O_RDWR);
        int xenPort = xen.allocUnboundXenEventChannel(guest, p -> { });
        int local = bind(fd, 0x1_0000L + guest, xenPort);
        assertThat(xen.eventChannel(0, local).orElseThrow().remoteDomid()).isEqualTo(guest);
        assertThat(errno(() -> bind(fd, guest, 0xffff_ffffL))).as("a port no domain has").isEqualTo(Errno.EINVAL);
        // DOMID_SELF is dom0 itself: its own unbound port, allocated for itself
        int own = xen.guestAllocUnbound(0, (int) abi.constant("DOMID_SELF"));
        int loop = bind(fd, abi.constant("DOMID_SELF"), own);
        assertThat(xen.eventChannel(0, own).orElseThrow().remotePort()).isEqualTo(loop);
        seam.close(fd);
        assertThat(xen.eventChannel(0, own).orElseThrow().state()).isEqualTo(SimEventChannel.State.UNBOUND);
    }

    @Test
    void otherRequestsAndOtherDevices() throws NativeException {
        int fd = open(Linux.O_RDWR);
        int privcmd = seam.open(Linux.PRIVCMD_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
        try {
            assertThat(errno(() -> seam.ioctl(fd, 0x00044599, page))).as("unknown: evtchn_ioctl's default").isEqualTo(Errno.ENOSYS);
            assertThat(errno(() -> seam.ioctl(fd, Linux.IOCTL_PRIVCMD_HYPERCALL, page))).isEqualTo(Errno.ENOSYS);
            assertThat(errno(() -> seam.ioctl(privcmd, Linux.IOCTL_EVTCHN_NOTIFY, page))).isEqualTo(Errno.ENOTTY);
            assertThatThrownBy(() -> seam.ioctl(fd, Linux.IOCTL_EVTCHN_BIND_VIRQ, page))
                    .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("not simulated");
            assertThat(seam.ioctl(fd, Linux.IOCTL_EVTCHN_RESET, 0)).isZero();
            assertThat(errno(() -> seam.mmap(Linux.PAGE_SIZE, RW, Linux.MAP_SHARED, fd, 0))).isEqualTo(Errno.ENODEV);
            assertThat(errno(() -> seam.readFd(privcmd, page, 4))).as("privcmd has no read").isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> seam.writeFd(privcmd, page, 4))).isEqualTo(Errno.EINVAL);
            assertThat(seam.poll(privcmd, Linux.POLLIN, -1)).as("no poll method: always ready").isEqualTo(Linux.POLLIN);
            assertThat(seam.poll(fd, Linux.POLLIN | Linux.POLLOUT, 0)).as("evtchn is always writable")
                    .isEqualTo(Linux.POLLOUT);
        } finally {
            seam.close(privcmd);
            seam.close(fd);
        }
        assertThat(seam.poll(fd, Linux.POLLIN, 0)).isEqualTo(Linux.POLLNVAL);
        assertThat(errno(() -> seam.readFd(fd, page, 4))).isEqualTo(Errno.EBADF);
        assertThat(seam.openFileCount()).isZero();
    }

    @Test
    void readAndWriteNeedTheMatchingAccessMode() throws NativeException {
        int readOnly = open(Linux.O_NONBLOCK); // O_RDONLY
        int writeOnly = open(1 | Linux.O_NONBLOCK); // O_WRONLY
        assertThat(errno(() -> write(readOnly, 1))).isEqualTo(Errno.EBADF);
        assertThat(errno(() -> seam.readFd(writeOnly, page, 4))).isEqualTo(Errno.EBADF);
        assertThat(write(writeOnly, 1)).isEqualTo(4);
        seam.close(readOnly);
        seam.close(writeOnly);
    }

    @Test
    void aBlockingReadWaitsForANotification() throws Exception {
        int xenPort = xen.allocUnboundXenEventChannel(guest, p -> { });
        int fd = open(Linux.O_RDWR);
        int local = bind(fd, guest, xenPort);
        assertThat(read(fd, 4)).containsExactly(local);
        write(fd, local);
        AtomicReference<Object> got = new AtomicReference<>();
        Thread reader = new Thread(() -> {
            try {
                got.set(read(fd, 4));
            } catch (NativeException e) {
                got.set(e);
            }
        });
        reader.start();
        awaitWaiting(reader);
        xen.notifyViaXenEventChannel(guest, xenPort);
        reader.join(TimeUnit.SECONDS.toMillis(30));
        assertThat(reader.isAlive()).isFalse();
        assertThat(got.get()).isEqualTo(new int[] {local});
        seam.close(fd);
    }

    @Test
    void aBlockedReadOrPollIsInterruptedAsBySignal() throws Exception {
        int fd = open(Linux.O_RDWR);
        for (boolean poll : new boolean[] {false, true}) {
            AtomicReference<Object> got = new AtomicReference<>();
            Thread waiter = new Thread(() -> {
                try {
                    got.set(poll ? seam.poll(fd, Linux.POLLIN, -1) : seam.readFd(fd, page, 4));
                } catch (NativeException e) {
                    got.set(e.errno());
                }
            });
            waiter.start();
            awaitWaiting(waiter);
            waiter.interrupt();
            waiter.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(waiter.isAlive()).isFalse();
            assertThat(got.get()).as(poll ? "poll" : "read").isEqualTo(Errno.EINTR);
        }
        seam.close(fd);
    }

    @Test
    void aPollWithoutTimeoutWakesOnANotification() throws Exception {
        int xenPort = xen.allocUnboundXenEventChannel(guest, p -> { });
        int fd = open(Linux.O_RDWR | Linux.O_NONBLOCK);
        int local = bind(fd, guest, xenPort);
        assertThat(read(fd, 4)).containsExactly(local);
        write(fd, local);
        AtomicReference<Object> got = new AtomicReference<>();
        Thread poller = new Thread(() -> {
            try {
                got.set(seam.poll(fd, Linux.POLLIN, -1));
            } catch (NativeException e) {
                got.set(e);
            }
        });
        poller.start();
        awaitWaiting(poller);
        xen.notifyViaXenEventChannel(guest, xenPort);
        poller.join(TimeUnit.SECONDS.toMillis(30));
        assertThat(poller.isAlive()).isFalse();
        assertThat(got.get()).as("only what was asked for, as poll(2) filters").isEqualTo(Linux.POLLIN);
        seam.close(fd);
    }

    /** Until {@code t} waits in the driver (a state, not a time: no sleep decides the test). */
    private static void awaitWaiting(Thread t) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING) {
            assertThat(t.isAlive()).as("%s ended before it waited", t.getName()).isTrue();
            assertThat(System.nanoTime() < deadline).as("%s never waited", t.getName()).isTrue();
            Thread.onSpinWait();
        }
    }
}
