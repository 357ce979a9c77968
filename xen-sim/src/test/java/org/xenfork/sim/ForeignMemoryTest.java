package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.ForwardingSeam;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;

/**
 * privcmd's {@link ForeignMemory} on the simulator: the mapping, its per-frame errnos, the paged-out
 * retries, the validation, and what mappings do to a fork and its parent (copy on write, the parent
 * untouched, fork_reset).
 */
class ForeignMemoryTest {
    private static final int PAGE = Linux.PAGE_SIZE;
    private static final int RO = Linux.PROT_READ;
    private static final int RW = Linux.PROT_READ | Linux.PROT_WRITE;

    private Privcmd privcmd;

    @AfterEach
    void closePrivcmd() {
        if (privcmd != null) {
            privcmd.close();
        }
    }

    private ForeignMemory open(NativeSeam seam) {
        privcmd = Privcmd.open(seam);
        return new ForeignMemory(privcmd);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void readsAndWritesAGuestsBytesAcrossPages() throws NativeException {
        SimXen xen = SimXen.create(XenRelease.parse("4.17"));
        SimDomain guest = xen.addGuest(GuestSpec.hvm("guest", 1, 1024));
        xen.writeGuestMemory(guest.domid(), 0x2ff8, bytes("across a page boundary"));
        SimulatedSeam seam = new SimulatedSeam(xen);
        ForeignMemory memory = open(seam);
        long address;
        int with;
        try (ForeignMapping m = memory.map(guest.domid(), RW, 2, 3)) {
            address = m.address();
            assertThat(m.pages()).isEqualTo(2);
            assertThat(m.writable()).isTrue();
            assertThat(m.firstUnmappedPage()).isEqualTo(-1);
            assertThat(m.gfn(1)).isEqualTo(3);
            byte[] seen = new byte[22];
            m.read(0xff8, seen, 0, seen.length);
            assertThat(new String(seen, StandardCharsets.US_ASCII)).isEqualTo("across a page boundary");
            m.write(0xffc, bytes("ACROSS"), 0, 6);
            assertThat(seam.privcmdMappingCount()).isEqualTo(1);
            with = seam.mappingCount();
        }
        assertThat(xen.readGuestMemory(guest.domid(), 0x2ff8, 22)).isEqualTo(bytes("acroACROSSage boundary"));
        assertThat(seam.privcmdMappingCount()).isZero();
        assertThat(seam.mappingCount()).isEqualTo(with - 1);
        assertThatThrownBy(() -> seam.read(address, new byte[1], 0, 1)).hasMessageContaining("segmentation fault");
    }

    @Test
    void eachFrameCarriesItsOwnErrnoAndAFailedFrameIsNeverTouched() throws NativeException {
        SimXen xen = SimXen.create(XenRelease.parse("4.17"));
        SimDomain guest = xen.addGuest(GuestSpec.hvm("guest", 1, 1024)); // gfns 0..255
        ForeignMemory memory = open(new SimulatedSeam(xen));
        try (ForeignMapping m = memory.map(guest.domid(), RO, 1, 0x100, 2)) {
            assertThat(m.frameError(0)).isZero();
            assertThat(m.frameError(1)).isEqualTo(Errno.EINVAL);
            assertThat(m.firstUnmappedPage()).isEqualTo(1);
            assertThatThrownBy(() -> m.read(PAGE - 1, new byte[2], 0, 2)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("page 1 (gfn 0x100)").hasMessageContaining("EINVAL (22): not RAM of the domain");
            m.read(2 * PAGE, new byte[PAGE], 0, PAGE);
            assertThatThrownBy(() -> m.write(0, new byte[1], 0, 1)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("read-only");
        }
        try (ForeignMapping gone = memory.map(4321, RO, 1)) {
            assertThat(gone.frameError(0)).isEqualTo(Errno.ESRCH);
        }
    }

    @Test
    void pagedOutFramesAreRetriedUntilThePagerHasBroughtThemBack() throws NativeException {
        SimXen xen = SimXen.create(XenRelease.parse("4.17"));
        SimDomain guest = xen.addGuest(GuestSpec.hvm("guest", 1, 1024));
        xen.writeGuestMemory(guest.domid(), 5 * PAGE, bytes("paged"));
        // gfn 5 in the middle of the batch: the ioctl returns 0, only err[] says ENOENT
        xen.pageOut(guest.domid(), 5, ForeignMemory.PAGED_OUT_RETRIES);
        xen.pageOut(guest.domid(), 7, 1);
        ForeignMemory memory = open(new SimulatedSeam(xen));
        try (ForeignMapping m = memory.map(guest.domid(), RO, 4, 5, 6, 7, 8)) {
            assertThat(m.firstUnmappedPage()).isEqualTo(-1);
            byte[] b = new byte[5];
            m.read(PAGE, b, 0, 5);
            assertThat(b).isEqualTo(bytes("paged"));
        }
        // the first attempt, then PAGED_OUT_RETRIES retries: one request more and the frame stays out
        xen.pageOut(guest.domid(), 9, ForeignMemory.PAGED_OUT_RETRIES + 1);
        try (ForeignMapping m = memory.map(guest.domid(), RO, 9)) {
            assertThat(m.frameError(0)).isEqualTo(Errno.ENOENT);
            assertThat(ForeignMapping.describeFrameError(m.frameError(0))).contains("paged out");
        }
        try (ForeignMapping back = memory.map(guest.domid(), RO, 9)) {
            assertThat(back.frameError(0)).isZero();
        }
    }

    @Test
    void outOfRangeArgumentsAreRefusedBeforeAnyCall() throws NativeException {
        SimXen xen = SimXen.create(XenRelease.parse("4.17"));
        SimulatedSeam seam = new SimulatedSeam(xen);
        ForeignMemory memory = open(seam);
        int before = seam.mappingCount();
        assertThatThrownBy(() -> memory.map(0, RO, 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("domain 0 is the control domain");
        assertThatThrownBy(() -> memory.map(0x7ff0, RO, 1)).hasMessageContaining("domain ids are 1 to 32751 (0x7fef)");
        assertThatThrownBy(() -> memory.map(-1, RO, 1)).hasMessageContaining("out of range");
        assertThatThrownBy(() -> memory.map(1, Linux.PROT_WRITE, 1)).hasMessageContaining("prot 0x2");
        assertThatThrownBy(() -> memory.map(1, RO)).hasMessageContaining("no frames to map");
        assertThatThrownBy(() -> memory.map(1, RO, new long[ForeignMemory.MAX_PAGES + 1]))
                .hasMessageContaining("1025 frames in one mapping: at most 1024 (4 MiB)");
        assertThatThrownBy(() -> memory.map(1, RO, 0, 1L << 40)).hasMessageContaining("gfn 0x10000000000 (frame 1)")
                .hasMessageContaining("0 to 0xffffffffff");
        assertThatThrownBy(() -> memory.map(1, RO, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThat(xen.calls()).isEmpty();
        assertThat(seam.mappingCount()).isEqualTo(before);
        try (ForeignMapping m = memory.map(1, RO, ForeignMemory.MAX_GFN)) {
            assertThat(m.frameError(0)).isEqualTo(Errno.ESRCH); // the largest gfn is sent; no domain 1 here
            assertThatThrownBy(() -> m.gfn(1)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> m.read(PAGE - 1, new byte[2], 0, 2)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> m.read(0, new byte[2], 1, 2)).isInstanceOf(IndexOutOfBoundsException.class);
        }
        privcmd.close();
        assertThatThrownBy(() -> memory.map(1, RO, 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("privcmd closed");
    }

    @Test
    void aMappingThatFailsAsAWholeLeavesNothingMapped() {
        SimXen xen = SimXen.create(XenRelease.parse("4.17"));
        SimDomain guest = xen.addGuest(GuestSpec.hvm("guest", 1, 1024));
        SimulatedSeam sim = new SimulatedSeam(xen);
        // fault injection beside the real seam: a privcmd fd restricted to another domain (EPERM), then no memory for the mmap
        ForeignMemory restricted = open(new ForwardingSeam(sim) {
            @Override
            public int ioctl(int fd, int request, long arg) throws NativeException {
                if (request == Linux.IOCTL_PRIVCMD_MMAPBATCH_V2) {
                    throw new NativeException("ioctl", Errno.EPERM);
                }
                return super.ioctl(fd, request, arg);
            }
        });
        assertThatThrownBy(() -> restricted.map(guest.domid(), RO, 1, 2))
                .isInstanceOf(NativeException.class)
                .hasMessage("ioctl(IOCTL_PRIVCMD_MMAPBATCH_V2) of 2 frame(s) of domain " + guest.domid() + ": EPERM (1)");
        assertThat(sim.privcmdMappingCount()).isZero();
        privcmd.close();
        ForeignMemory noMemory = open(new ForwardingSeam(sim) {
            @Override
            public long mmap(long length, int prot, int flags, int fd, long offset) throws NativeException {
                if (length == 2 * PAGE) {
                    throw new NativeException("mmap", Errno.ENOMEM);
                }
                return super.mmap(length, prot, flags, fd, offset);
            }
        });
        assertThatThrownBy(() -> noMemory.map(guest.domid(), RO, 1, 2)).isInstanceOf(NativeException.class)
                .hasMessageContaining("mmap of 2 page(s) of /dev/xen/privcmd for domain " + guest.domid())
                .hasMessageContaining("ENOMEM");
        assertThat(xen.calls()).extracting(LoggedCall::toString).isEmpty();
    }

    @Test
    void closeUnmapsOnceAndTheMappingIsUnusableAfterwards() throws NativeException {
        SimXen xen = SimXen.create(XenRelease.parse("4.17"));
        SimDomain guest = xen.addGuest(GuestSpec.hvm("guest", 1, 1024));
        SimulatedSeam seam = new SimulatedSeam(xen);
        ForeignMemory memory = open(seam);
        ForeignMapping m = memory.map(guest.domid(), RO, 1);
        privcmd.close(); // the kernel keeps the file open for the mapping
        assertThat(seam.openFileCount()).isZero();
        m.read(0, new byte[8], 0, 8);
        assertThat(seam.mappingCount()).isEqualTo(1);
        m.close();
        m.close();
        assertThat(seam.mappingCount()).isZero();
        assertThatThrownBy(() -> m.read(0, new byte[1], 0, 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    // ---- forks ------------------------------------------------------------------------------------

    /** A parent with known bytes at gfn 3 and a paused fork of it, through the simulator's seam. */
    private static final class Family {
        final SimClient c;
        final SimDomain parent;
        final SimDomain fork;

        Family(String release) throws NativeException {
            c = SimClient.of(release);
            parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 1024));
            c.xen.writeGuestMemory(parent.domid(), 3 * PAGE, bytes("parent's page"));
            int child = c.newForkChild(1);
            assertThat(c.fork(child, parent.domid(), 0).ok()).isTrue();
            fork = c.xen.domain(child).orElseThrow();
        }

        byte[] read(SimDomain d, long gfn, int n) {
            return c.xen.readGuestMemory(d.domid(), gfn * PAGE, n);
        }

        void reset() throws NativeException {
            boolean flags = Abi.forRelease(c.xen.release()).findConstant("XENMEM_FORK_RESET_STATE").isPresent();
            long all = flags ? c.constant("XENMEM_FORK_RESET_STATE") | c.constant("XENMEM_FORK_RESET_MEMORY") : 0;
            assertThat(c.forkReset(fork.domid(), all).ok()).isTrue();
        }
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aForkReadsItsParentsBytesSharingThePage(String release) throws NativeException {
        Family f = new Family(release);
        ForeignMemory memory = open(f.c.seam);
        try (ForeignMapping m = memory.map(f.fork.domid(), RO, 3)) {
            byte[] b = new byte[13];
            m.read(0, b, 0, b.length);
            assertThat(b).isEqualTo(bytes("parent's page"));
        }
        // mem_sharing_fork_page for a read-only entry: the parent's page nominated, a shared entry in the fork
        assertThat(List.of(f.fork.totPages(), f.fork.shrPages())).containsExactly(0L, 1L);
        assertThat(List.of(f.parent.totPages(), f.parent.shrPages())).containsExactly(255L, 1L);
        SimClient.Outcome info = f.c.domctl("getdomaininfo", f.fork.domid());
        assertThat(info.get("u.getdomaininfo.shr_pages")).isEqualTo(1);
        assertThat(info.get("u.getdomaininfo.tot_pages")).isZero();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void writingAForksPageGivesItItsOwnCopyAndLeavesTheParentAlone(String release) throws NativeException {
        Family f = new Family(release);
        ForeignMemory memory = open(f.c.seam);
        try (ForeignMapping m = memory.map(f.fork.domid(), RW, 3)) {
            // P2M_UNSHARE: a private copy of the parent's page before anything is written
            assertThat(List.of(f.fork.totPages(), f.fork.shrPages())).containsExactly(1L, 0L);
            byte[] b = new byte[13];
            m.read(0, b, 0, b.length);
            assertThat(b).isEqualTo(bytes("parent's page"));
            m.write(0, bytes("child!"), 0, 6);
        }
        assertThat(f.read(f.fork, 3, 13)).isEqualTo(bytes("child!'s page"));
        assertThat(f.read(f.parent, 3, 13)).isEqualTo(bytes("parent's page"));
        try (ForeignMapping p = memory.map(f.parent.domid(), RO, 3)) {
            byte[] b = new byte[13];
            p.read(0, b, 0, b.length);
            assertThat(b).isEqualTo(bytes("parent's page"));
        }
        assertThat(List.of(f.parent.totPages(), f.parent.shrPages())).containsExactly(256L, 0L);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void forkResetDropsTheForksCopySoItReadsItsParentsBytesAgain(String release) throws NativeException {
        Family f = new Family(release);
        ForeignMemory memory = open(f.c.seam);
        try (ForeignMapping m = memory.map(f.fork.domid(), RW, 3)) {
            m.write(0, bytes("fork"), 0, 4);
        }
        f.reset();
        assertThat(f.fork.totPages()).isZero();
        assertThat(f.read(f.fork, 3, 13)).isEqualTo(bytes("parent's page"));
        try (ForeignMapping m = memory.map(f.fork.domid(), RO, 3)) {
            byte[] b = new byte[13];
            m.read(0, b, 0, b.length);
            assertThat(b).isEqualTo(bytes("parent's page"));
        }
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aPageStillMappedSurvivesForkResetAsXenSkipsIt(String release) throws NativeException {
        Family f = new Family(release);
        ForeignMemory memory = open(f.c.seam);
        try (ForeignMapping m = memory.map(f.fork.domid(), RW, 3)) {
            m.write(0, bytes("fork"), 0, 4);
            f.reset(); // mem_sharing_fork_reset keeps a page it cannot nominate (the mapping holds it)
            assertThat(f.fork.totPages()).isEqualTo(1);
            assertThat(f.read(f.fork, 3, 4)).isEqualTo(bytes("fork"));
        }
        f.reset();
        assertThat(f.fork.totPages()).isZero();
        assertThat(f.read(f.fork, 3, 6)).isEqualTo(bytes("parent"));
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void writingTheParentsSharedPageUnsharesItAndTheForkKeepsTheOldBytes(String release) throws NativeException {
        Family f = new Family(release);
        ForeignMemory memory = open(f.c.seam);
        try (ForeignMapping m = memory.map(f.fork.domid(), RO, 3)) {
            assertThat(m.frameError(0)).isZero();
        }
        assertThat(f.parent.shrPages()).isEqualTo(1);
        try (ForeignMapping p = memory.map(f.parent.domid(), RW, 3)) {
            assertThat(List.of(f.parent.totPages(), f.parent.shrPages())).containsExactly(256L, 0L);
            p.write(0, bytes("PARENT"), 0, 6);
        }
        assertThat(f.read(f.parent, 3, 6)).isEqualTo(bytes("PARENT"));
        assertThat(f.read(f.fork, 3, 6)).isEqualTo(bytes("parent"));
        assertThat(f.fork.shrPages()).isEqualTo(1);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aForkHasNoPageWhereItsParentHasNone(String release) throws NativeException {
        Family f = new Family(release);
        ForeignMemory memory = open(f.c.seam);
        try (ForeignMapping m = memory.map(f.fork.domid(), RW, 256)) {
            assertThat(m.frameError(0)).isEqualTo(Errno.EINVAL);
        }
        assertThat(f.fork.totPages()).isZero();
    }
}
