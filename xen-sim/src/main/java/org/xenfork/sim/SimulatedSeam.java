package org.xenfork.sim;

import java.util.HashMap;
import java.util.Map;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.NativeSeam;

/**
 * privcmd's {@link NativeSeam} answered by a {@link SimXen} instead of Linux
 * and Xen: a simulated process address space, the device nodes,
 * {@code IOCTL_PRIVCMD_HYPERCALL} reading the real 48-byte
 * {@code privcmd_hypercall} the caller wrote and handing it to the simulated
 * hypervisor, and {@code /dev/xen/evtchn} over the simulated event channels
 * ({@link EvtchnFile}). Errors are {@link NativeException}s with Linux's errno.
 *
 * <pre>{@code
 * SimXen xen = SimXen.create(XenRelease.parse("4.18"));
 * NativeSeam seam = new SimulatedSeam(xen);
 * int fd = seam.open(Linux.PRIVCMD_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
 * int buf = seam.open(Linux.HYPERCALL_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
 * long page = seam.mmap(4096, Linux.PROT_READ | Linux.PROT_WRITE, Linux.MAP_SHARED, buf, 0);
 * seam.write(page, hypercallBytes, 0, 48);                       // a privcmd_hypercall
 * int rc = seam.ioctl(fd, Linux.IOCTL_PRIVCMD_HYPERCALL, page);  // or NativeException(errno)
 * }</pre>
 *
 * <p>What it models, after Linux's privcmd.c and privcmd-buf.c:
 * <ul>
 * <li>{@code open}: {@code /dev/xen/privcmd}, {@code /dev/xen/evtchn}, and {@code /dev/xen/hypercall}
 *     unless built {@link #withoutHypercallDevice without it} (ENOENT, for
 *     libxencall's fallback); any other path ENOENT. Each open of
 *     {@code /dev/xen/evtchn} is a file of its own, with its own ports; closing the
 *     fd unbinds them. A missing
 *     {@code O_CLOEXEC} is a programming error here (IllegalArgumentException):
 *     xenfork's rule is that no privileged fd leaks into a child process.</li>
 * <li>{@code mmap}: of the hypercall device only {@code MAP_SHARED} (else
 *     EINVAL), on an fd opened for writing if {@code PROT_WRITE} (else EACCES);
 *     anonymous memory with {@code MAP_ANONYMOUS} and exactly one of
 *     MAP_SHARED/MAP_PRIVATE (else EINVAL), its pages present (reachable by
 *     Xen) once written or at once with {@code MAP_LOCKED}. Of the privcmd device
 *     ({@code privcmd_mmap}) any mapping, EACCES for {@code PROT_WRITE|MAP_SHARED} on
 *     an fd opened read-only: its pages map nothing until an MMAPBATCH_V2 (touching
 *     one is a SIGBUS, {@code privcmd_fault}). The evtchn device has no mmap (ENODEV).</li>
 * <li>{@code munmap} of exactly one whole mapping and {@code madvise} on mapped
 *     pages; anything else EINVAL (stricter than Linux, to catch buffer bugs).
 *     Unmapping a privcmd mapping drops the references its frames held.</li>
 * <li>{@code read}/{@code write} of unmapped memory: IllegalStateException
 *     (SIGSEGV in real life; SIGBUS for a privcmd page that maps no frame).</li>
 * <li>{@code ioctl}: HYPERCALL on the privcmd fd; its struct unreadable: EFAULT.
 *     MMAPBATCH_V2 on the privcmd fd: foreign frames into a privcmd mapping
 *     ({@link PrivcmdMmapBatch}, with Xen's side in {@link MmuUpdate}). Other
 *     requests ENOTTY; the hypercall device has no ioctls (ENOTTY). A
 *     result in [-4095, -1] is thrown as errno, any other value returned
 *     truncated to {@code int} as glibc's {@code ioctl()} does. On an evtchn fd
 *     the driver's ioctls, any other request ENOSYS (see {@link EvtchnFile}).</li>
 * <li>{@code readFd}/{@code writeFd}: EBADF for an fd not open or not open for
 *     that direction; the evtchn driver's read and write; EINVAL on the other
 *     devices, which have neither.</li>
 * <li>{@code poll}: POLLNVAL for an fd not open; the evtchn driver's poll
 *     (waiting in real time, a Java interrupt being EINTR); the other devices
 *     have no poll, so they are always readable and writable.</li>
 * </ul>
 */
public final class SimulatedSeam implements NativeSeam {
    /** O_ACCMODE: the access-mode bits of open(2)'s flags. */
    private static final int O_ACCMODE = 03;
    private static final int O_RDONLY = 0;
    private static final int O_WRONLY = 01;
    /** DEFAULT_POLLMASK (include/linux/poll.h): what poll says of a file without a poll method. */
    private static final int DEFAULT_POLLMASK = Linux.POLLIN | Linux.POLLOUT | Linux.POLLRDNORM | Linux.POLLWRNORM;
    /** fds 0-2 are stdin, stdout and stderr. */
    private static final int FIRST_FD = 3;

    private enum Device { PRIVCMD, HYPERCALL, EVTCHN }

    /** An open file: its device, its access mode, and for {@code /dev/xen/evtchn} the driver's state. */
    private record OpenFile(Device device, int accessMode, EvtchnFile evtchn) {
    }

    private final SimXen xen;
    private final boolean hypercallDevice;
    private final AddressSpace memory = new AddressSpace();
    private final Map<Integer, OpenFile> files = new HashMap<>();
    private final int hypercallSize;
    private final Leaf op;
    private final Leaf[] args;
    private final PrivcmdMmapBatch mmapBatch;

    /** A seam to {@code xen} with both /dev/xen/privcmd and /dev/xen/hypercall present. */
    public SimulatedSeam(SimXen xen) {
        this(xen, true);
    }

    private SimulatedSeam(SimXen xen, boolean hypercallDevice) {
        this.xen = xen;
        this.hypercallDevice = hypercallDevice;
        StructLayout s = Abi.forRelease(xen.release()).struct("privcmd_hypercall");
        this.hypercallSize = s.size();
        this.op = s.leaf("op");
        int n = s.field("arg").orElseThrow().size() / op.size();
        this.args = new Leaf[n];
        for (int i = 0; i < n; i++) {
            args[i] = s.leaf("arg[" + i + "]");
        }
        this.mmapBatch = new PrivcmdMmapBatch(xen.release());
    }

    /** A seam on a kernel without privcmd-buf: opening /dev/xen/hypercall fails with ENOENT. */
    public static SimulatedSeam withoutHypercallDevice(SimXen xen) {
        return new SimulatedSeam(xen, false);
    }

    /** The hypervisor behind this seam. */
    public SimXen xen() {
        return xen;
    }

    /** Open file descriptors (for tests that check nothing leaks). */
    public synchronized int openFileCount() {
        return files.size();
    }

    /** Live mappings (for tests that check every buffer is unmapped). */
    public int mappingCount() {
        return memory.mappingCount();
    }

    /** Live mappings of the privcmd device, the foreign mappings among {@link #mappingCount()}. */
    public int privcmdMappingCount() {
        return memory.privcmdMappingCount();
    }

    @Override
    public synchronized int open(String path, int flags) throws NativeException {
        if ((flags & Linux.O_CLOEXEC) == 0) {
            throw new IllegalArgumentException("open(" + path + ") without O_CLOEXEC: a privileged fd would leak"
                    + " into every child process");
        }
        Device device;
        if (Linux.PRIVCMD_DEVICE.equals(path)) {
            device = Device.PRIVCMD;
        } else if (Linux.HYPERCALL_DEVICE.equals(path) && hypercallDevice) {
            device = Device.HYPERCALL;
        } else if (Linux.EVTCHN_DEVICE.equals(path)) {
            device = Device.EVTCHN;
        } else {
            throw new NativeException("open(" + path + ")", Errno.ENOENT);
        }
        int fd = FIRST_FD;
        while (files.containsKey(fd)) {
            fd++; // open(2) returns the lowest free descriptor
        }
        EvtchnFile evtchn = device == Device.EVTCHN ? new EvtchnFile(xen, (flags & Linux.O_NONBLOCK) != 0) : null;
        files.put(fd, new OpenFile(device, flags & O_ACCMODE, evtchn));
        return fd;
    }

    @Override
    public void close(int fd) throws NativeException {
        OpenFile file;
        synchronized (this) {
            file = files.remove(fd);
        }
        if (file == null) {
            throw new NativeException("close(" + fd + ")", Errno.EBADF);
        }
        if (file.evtchn != null) {
            file.evtchn.release(); // the last close of the file: evtchn_release
        }
    }

    @Override
    public int ioctl(int fd, int request, long argAddress) throws NativeException {
        String call = request == Linux.IOCTL_PRIVCMD_HYPERCALL ? "ioctl(IOCTL_PRIVCMD_HYPERCALL)"
                : request == Linux.IOCTL_PRIVCMD_MMAPBATCH_V2 ? "ioctl(IOCTL_PRIVCMD_MMAPBATCH_V2)"
                : "ioctl(0x" + Integer.toHexString(request) + ")";
        OpenFile file = file(fd, call);
        if (file.device == Device.PRIVCMD && request == Linux.IOCTL_PRIVCMD_MMAPBATCH_V2) {
            long rc;
            synchronized (xen) {
                rc = mmapBatch.ioctl(memory, xen, argAddress);
            }
            if (rc < 0) {
                throw new NativeException(call, (int) -rc);
            }
            return (int) rc;
        }
        if (file.device == Device.EVTCHN) {
            return file.evtchn.ioctl(request, argAddress, memory);
        }
        if (file.device != Device.PRIVCMD || request != Linux.IOCTL_PRIVCMD_HYPERCALL) {
            throw new NativeException(call, Errno.ENOTTY);
        }
        byte[] hc = memory.copyFromUser(argAddress, hypercallSize);
        if (hc == null) {
            throw new NativeException(call, Errno.EFAULT);
        }
        long[] a = new long[args.length];
        for (int i = 0; i < args.length; i++) {
            a[i] = args[i].read(hc, 0);
        }
        long rc = xen.hypercall(memory, op.read(hc, 0), a);
        if (rc < 0 && rc >= -4095) {
            throw new NativeException(call, (int) -rc);
        }
        return (int) rc;
    }

    @Override
    public long mmap(long length, int prot, int flags, int fd, long offset) throws NativeException {
        String call = "mmap(" + length + ")";
        int type = flags & (Linux.MAP_SHARED | Linux.MAP_PRIVATE);
        if (length <= 0 || offset % Linux.PAGE_SIZE != 0
                || (type != Linux.MAP_SHARED && type != Linux.MAP_PRIVATE)) {
            throw new NativeException(call, Errno.EINVAL);
        }
        long size = AddressSpace.roundUpToPage(length);
        if (size > AddressSpace.MAX_MAPPING) {
            throw new NativeException(call, Errno.ENOMEM);
        }
        if ((flags & Linux.MAP_ANONYMOUS) != 0) {
            // Anonymous pages appear on first touch; MAP_LOCKED populates them at once.
            return memory.map(size, prot, (flags & Linux.MAP_LOCKED) != 0);
        }
        OpenFile file = file(fd, call);
        // do_mmap: a shared writable mapping needs an fd open for writing.
        if (type == Linux.MAP_SHARED && (prot & Linux.PROT_WRITE) != 0 && file.accessMode == O_RDONLY) {
            throw new NativeException(call, Errno.EACCES);
        }
        if (file.device == Device.PRIVCMD) {
            // privcmd_mmap accepts any mapping; its pages show frames once an MMAPBATCH maps them.
            return memory.mapPrivcmd(size, prot);
        }
        if (file.device == Device.EVTCHN) {
            throw new NativeException(call, Errno.ENODEV); // the evtchn driver has no mmap
        }
        // privcmd-buf: "if (!(vma->vm_flags & VM_SHARED)) return -EINVAL", pages allocated now.
        if (type != Linux.MAP_SHARED) {
            throw new NativeException(call, Errno.EINVAL);
        }
        return memory.map(size, prot, true);
    }

    @Override
    public void munmap(long address, long length) throws NativeException {
        synchronized (xen) {
            AddressSpace.Mapping m = memory.unmap(address, length);
            if (m == null) {
                throw new NativeException("munmap(0x" + Long.toHexString(address) + ", " + length + ")", Errno.EINVAL);
            }
            if (m.isPrivcmd()) {
                // zap_page_range, then Xen's put_page_from_l1e for each foreign entry.
                for (int p = 0; p < m.pages(); p++) {
                    if (m.frame(p) != null) {
                        m.frame(p).unmapped();
                    }
                }
            }
        }
    }

    @Override
    public void madvise(long address, long length, int advice) throws NativeException {
        if (!memory.isMapped(address, AddressSpace.roundUpToPage(length))) {
            throw new NativeException("madvise(0x" + Long.toHexString(address) + ", " + length + ")",
                    Errno.EINVAL);
        }
    }

    @Override
    public void read(long address, byte[] dst, int dstOffset, int length) {
        memory.read(address, dst, dstOffset, length);
    }

    @Override
    public void write(long address, byte[] src, int srcOffset, int length) {
        memory.write(address, src, srcOffset, length);
    }

    @Override
    public int readFd(int fd, long address, int length) throws NativeException {
        return evtchnFile(fd, length, "read", O_WRONLY).read(address, length, memory);
    }

    @Override
    public int writeFd(int fd, long address, int length) throws NativeException {
        return evtchnFile(fd, length, "write", O_RDONLY).write(address, length, memory);
    }

    /**
     * The evtchn device behind {@code fd}, for a read or a write: EBADF when it was opened
     * {@code refusedMode}; EINVAL for privcmd and privcmd-buf, which have neither.
     */
    private EvtchnFile evtchnFile(int fd, int length, String op, int refusedMode) throws NativeException {
        checkLength(length);
        String call = op + "(" + fd + ", " + length + " bytes)";
        OpenFile file = file(fd, call);
        if (file.accessMode == refusedMode) {
            throw new NativeException(call, Errno.EBADF);
        }
        if (file.device != Device.EVTCHN) {
            throw new NativeException(call, Errno.EINVAL);
        }
        return file.evtchn;
    }

    @Override
    public int poll(int fd, int events, int timeoutMillis) throws NativeException {
        OpenFile file;
        synchronized (this) {
            file = files.get(fd);
        }
        if (file == null) {
            return Linux.POLLNVAL;
        }
        if (file.device == Device.EVTCHN) {
            return file.evtchn.poll(events, timeoutMillis);
        }
        return DEFAULT_POLLMASK & (events | Linux.POLLERR | Linux.POLLHUP);
    }

    private static void checkLength(int length) {
        if (length < 0) {
            throw new IllegalArgumentException("a negative length (" + length + ") for read(2) or write(2)");
        }
    }

    private synchronized OpenFile file(int fd, String call) throws NativeException {
        OpenFile f = files.get(fd);
        if (f == null) {
            throw new NativeException(call, Errno.EBADF);
        }
        return f;
    }
}
