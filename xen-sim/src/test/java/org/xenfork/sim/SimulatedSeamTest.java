package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;

/**
 * The Linux side of the seam: devices, mappings, the HYPERCALL ioctl and its errors. privcmd is
 * Linux's, not Xen's: any one release (4.17) behind it will do.
 */
class SimulatedSeamTest {
    private static final int RW = Linux.PROT_READ | Linux.PROT_WRITE;
    private static final int FLAGS = Linux.O_RDWR | Linux.O_CLOEXEC;

    private final SimXen xen = SimXen.create(XenRelease.parse("4.17"));
    private final SimulatedSeam seam = new SimulatedSeam(xen);

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

    @Test
    void opensBothDevicesAndRefusesOtherPaths() throws NativeException {
        int privcmd = seam.open(Linux.PRIVCMD_DEVICE, FLAGS);
        int buf = seam.open(Linux.HYPERCALL_DEVICE, FLAGS);
        assertThat(privcmd).isNotEqualTo(buf).isGreaterThanOrEqualTo(3);
        assertThat(errno(() -> seam.open(Linux.PRIVCMD_PROC, FLAGS))).isEqualTo(Errno.ENOENT);
        assertThat(errno(() -> seam.open("/dev/null", FLAGS))).isEqualTo(Errno.ENOENT);
        seam.close(privcmd);
        assertThat(seam.open(Linux.PRIVCMD_DEVICE, FLAGS)).isEqualTo(privcmd); // the lowest free fd
        seam.close(privcmd);
        seam.close(buf);
        assertThat(seam.openFileCount()).isZero();
        assertThat(errno(() -> seam.close(privcmd))).isEqualTo(Errno.EBADF);
    }

    @Test
    void openWithoutCloexecIsAProgrammingError() {
        assertThatThrownBy(() -> seam.open(Linux.PRIVCMD_DEVICE, Linux.O_RDWR))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("O_CLOEXEC");
    }

    @Test
    void hypercallDeviceCanBeAbsentForTheFallbackPath() throws NativeException {
        SimulatedSeam old = SimulatedSeam.withoutHypercallDevice(xen);
        assertThat(errno(() -> old.open(Linux.HYPERCALL_DEVICE, FLAGS))).isEqualTo(Errno.ENOENT);
        assertThat(old.open(Linux.PRIVCMD_DEVICE, FLAGS)).isPositive();
    }

    @Test
    void hypercallBuffersMustBeMapShared() throws NativeException {
        int buf = seam.open(Linux.HYPERCALL_DEVICE, FLAGS);
        assertThat(errno(() -> seam.mmap(4096, RW, Linux.MAP_PRIVATE, buf, 0))).isEqualTo(Errno.EINVAL);
        long a = seam.mmap(4096, RW, Linux.MAP_SHARED, buf, 0);
        long b = seam.mmap(100, RW, Linux.MAP_SHARED, buf, 0);
        assertThat(a).isGreaterThanOrEqualTo(0x7f00_0000_0000L);
        assertThat(b - a).isGreaterThanOrEqualTo(4096);
        assertThat(seam.mappingCount()).isEqualTo(2);
        int readOnly = seam.open(Linux.HYPERCALL_DEVICE, Linux.O_CLOEXEC);
        assertThat(errno(() -> seam.mmap(4096, RW, Linux.MAP_SHARED, readOnly, 0))).isEqualTo(Errno.EACCES);
    }

    @Test
    void anonymousMappingsAndBadArguments() throws NativeException {
        long a = seam.mmap(8192, RW, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS | Linux.MAP_LOCKED, -1, 0);
        seam.madvise(a, 8192, Linux.MADV_DONTFORK);
        seam.madvise(a, 8192, Linux.MADV_DOFORK);
        assertThat(errno(() -> seam.mmap(0, RW, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0)))
                .isEqualTo(Errno.EINVAL);
        assertThat(errno(() -> seam.mmap(4096, RW, Linux.MAP_ANONYMOUS, -1, 0))).isEqualTo(Errno.EINVAL);
        assertThat(errno(() -> seam.mmap(4096, RW, Linux.MAP_SHARED, 99, 0))).isEqualTo(Errno.EBADF);
        int privcmd = seam.open(Linux.PRIVCMD_DEVICE, FLAGS);
        int readOnly = seam.open(Linux.PRIVCMD_DEVICE, Linux.O_CLOEXEC);
        assertThat(errno(() -> seam.mmap(4096, RW, Linux.MAP_SHARED, readOnly, 0))).isEqualTo(Errno.EACCES);
        // privcmd_mmap takes any mapping; its pages map nothing until an MMAPBATCH (ForeignMappingSimTest)
        long p = seam.mmap(4096, RW, Linux.MAP_SHARED, privcmd, 0);
        assertThatThrownBy(() -> seam.read(p, new byte[1], 0, 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("bus error");
    }

    @Test
    void munmapAndMadviseOnlyOnMappedRanges() throws NativeException {
        long a = seam.mmap(8192, RW, Linux.MAP_SHARED | Linux.MAP_ANONYMOUS, -1, 0);
        assertThat(errno(() -> seam.madvise(a + 8192, 4096, Linux.MADV_DONTFORK))).isEqualTo(Errno.EINVAL);
        assertThat(errno(() -> seam.munmap(a, 4096))).isEqualTo(Errno.EINVAL);
        assertThat(errno(() -> seam.munmap(a + 1, 8192))).isEqualTo(Errno.EINVAL);
        seam.munmap(a, 8192);
        assertThat(seam.mappingCount()).isZero();
        assertThat(errno(() -> seam.munmap(a, 8192))).isEqualTo(Errno.EINVAL);
        assertThat(errno(() -> seam.madvise(a, 4096, Linux.MADV_DONTFORK))).isEqualTo(Errno.EINVAL);
    }

    @Test
    void touchingUnmappedMemoryIsASegfault() throws NativeException {
        long a = seam.mmap(4096, RW, Linux.MAP_SHARED | Linux.MAP_ANONYMOUS, -1, 0);
        byte[] b = new byte[16];
        assertThatThrownBy(() -> seam.read(a + 4090, b, 0, 16)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("segmentation fault");
        seam.munmap(a, 4096);
        assertThatThrownBy(() -> seam.write(a, b, 0, 1)).isInstanceOf(IllegalStateException.class);
        long ro = seam.mmap(4096, Linux.PROT_READ, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
        assertThatThrownBy(() -> seam.write(ro, b, 0, 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("protection");
    }

    @Test
    void ioctlRefusesOtherRequestsAndFds() throws NativeException {
        int privcmd = seam.open(Linux.PRIVCMD_DEVICE, FLAGS);
        int buf = seam.open(Linux.HYPERCALL_DEVICE, FLAGS);
        long arg = seam.mmap(4096, RW, Linux.MAP_SHARED, buf, 0);
        // IOCTL_PRIVCMD_UNIMPLEMENTED = _IOC(_IOC_NONE, 'P', 0xFF, 0): Linux's default case, ENOTTY
        assertThat(errno(() -> seam.ioctl(privcmd, 0x000050ff, arg))).isEqualTo(Errno.ENOTTY);
        assertThat(errno(() -> seam.ioctl(buf, Linux.IOCTL_PRIVCMD_MMAPBATCH_V2, arg))).isEqualTo(Errno.ENOTTY);
        assertThat(errno(() -> seam.ioctl(buf, Linux.IOCTL_PRIVCMD_HYPERCALL, arg))).isEqualTo(Errno.ENOTTY);
        assertThat(errno(() -> seam.ioctl(77, Linux.IOCTL_PRIVCMD_HYPERCALL, arg))).isEqualTo(Errno.EBADF);
        // copy_from_user of the privcmd_hypercall itself fails
        assertThat(errno(() -> seam.ioctl(privcmd, Linux.IOCTL_PRIVCMD_HYPERCALL, 0x1000))).isEqualTo(Errno.EFAULT);
    }

    @Test
    void hypercallReadsThePrivcmdStructAndReturnsTheResult() throws NativeException {
        SimClient c = new SimClient(xen);
        assertThat(c.hypercall(c.constant("__HYPERVISOR_xen_version"), c.constant("XENVER_version")))
                .isEqualTo(0x40011);
        // an unknown hypercall number: Xen's hypercall table has nothing there
        assertThat(c.hypercall(0x7f)).isEqualTo(-Errno.ENOSYS);
        assertThat(xen.calls()).extracting(l -> l.call().hypercallName()).containsExactly("xen_version", "cmd 127");
    }

    @Test
    void anArgumentPointerToUnmappedMemoryIsEfault() throws NativeException {
        SimClient c = new SimClient(xen);
        long hcDomctl = c.constant("__HYPERVISOR_domctl");
        assertThat(c.hypercall(hcDomctl, 0x1234_5000L)).isEqualTo(-Errno.EFAULT);
        long freed = c.buffer(4096);
        c.seam.munmap(freed, 4096);
        assertThat(c.hypercall(hcDomctl, freed)).isEqualTo(-Errno.EFAULT);
        // a struct that runs off the end of its mapping
        long page = c.buffer(4096);
        assertThat(c.hypercall(hcDomctl, page + 4096 - 16)).isEqualTo(-Errno.EFAULT);
    }

    @Test
    void untouchedPrivateAnonymousPagesFaultInXenUnlessLocked() throws NativeException {
        SimClient c = new SimClient(xen);
        byte[] domctl = StructCodec.encode(c.struct("xen_domctl"), Map.of(
                "cmd", Long.toString(c.constant("XEN_DOMCTL_getdomaininfo")),
                "interface_version", Long.toString(c.constant("XEN_DOMCTL_INTERFACE_VERSION"))));
        long hcDomctl = c.constant("__HYPERVISOR_domctl");
        int anon = Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS;

        // The kernel's own copy_from_user faults pages in: an untouched page
        // holding an all-zero privcmd_hypercall reaches Xen (hypercall 0, not simulated: ENOSYS).
        long zeroArg = c.seam.mmap(4096, RW, anon, -1, 0);
        assertThat(errno(() -> c.seam.ioctl(c.privcmd, Linux.IOCTL_PRIVCMD_HYPERCALL, zeroArg)))
                .isEqualTo(Errno.ENOSYS);

        // Written by the process: present, the call works.
        long touched = c.seam.mmap(4096, RW, anon, -1, 0);
        c.seam.write(touched, domctl, 0, domctl.length);
        assertThat(c.hypercall(hcDomctl, touched)).isZero();

        // The output of getdomaininfolist into pages nobody touched: EFAULT.
        long untouched = c.seam.mmap(8192, RW, anon, -1, 0);
        SimClient.Outcome list = c.sysctl("getdomaininfolist", Map.of("u.getdomaininfolist.max_domains", 1,
                "u.getdomaininfolist.buffer", untouched));
        assertThat(list.errno()).isEqualTo(Errno.EFAULT);

        // libxencall's fallback: MAP_LOCKED populates the pages.
        long locked = c.seam.mmap(8192, RW, anon | Linux.MAP_LOCKED, -1, 0);
        list = c.sysctl("getdomaininfolist", Map.of("u.getdomaininfolist.max_domains", 1,
                "u.getdomaininfolist.buffer", locked));
        assertThat(list.ok()).isTrue();
        assertThat(list.get("u.getdomaininfolist.num_domains")).isEqualTo(1);
    }
}
