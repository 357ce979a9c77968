package org.xenfork.vmi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.ForwardingSeam;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;

/** Guest-physical reads and writes through foreign mappings, on the simulated Xen. */
class MappedPhysicalMemoryTest {
    private static final int PAGE = Linux.PAGE_SIZE;
    /** 2050 pages: enough for an access that needs two mappings of 1024 frames and a bit. */
    private static final int GUEST_KB = 2050 * 4;

    private final SimXen xen = SimXen.create(XenRelease.parse("4.17"));
    private final SimDomain guest = xen.addGuest(GuestSpec.hvm("guest", 1, GUEST_KB));
    private final SimulatedSeam seam = new SimulatedSeam(xen);
    private Privcmd privcmd;

    @AfterEach
    void close() {
        if (privcmd != null) {
            privcmd.close();
        }
    }

    private MappedPhysicalMemory memory(NativeSeam through, int domid) {
        privcmd = Privcmd.open(through);
        return new MappedPhysicalMemory(new ForeignMemory(privcmd), domid);
    }

    private MappedPhysicalMemory memory() {
        return memory(seam, guest.domid());
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    @Test
    void readsTheGuestsBytesAcrossPagesAndLeavesNothingMapped() throws GuestMemoryException {
        xen.writeGuestMemory(guest.domid(), 0x1ffa, ascii("a string over two pages"));
        MappedPhysicalMemory m = memory();
        byte[] b = new byte[30];
        m.read(0x1ffa, b, 4, 23);
        assertThat(new String(b, 4, 23, StandardCharsets.US_ASCII)).isEqualTo("a string over two pages");
        assertThat(b[0]).isZero();
        assertThat(seam.privcmdMappingCount()).isZero();
        m.read(0x1ffa, b, 0, 0); // nothing to move, nothing mapped
        assertThat(xen.calls()).hasSize(1); // one mmu_update for the two frames
    }

    @Test
    void aRangeLongerThanOneMappingIsMappedInPieces() throws GuestMemoryException {
        byte[] content = new byte[ForeignMemory.MAX_PAGES * PAGE + 3 * PAGE];
        new Random(7).nextBytes(content);
        xen.writeGuestMemory(guest.domid(), 100, content);
        MappedPhysicalMemory m = memory();
        byte[] back = new byte[content.length];
        m.read(100, back, 0, back.length);
        assertThat(back).isEqualTo(content);
        byte[] other = new byte[content.length];
        new Random(8).nextBytes(other);
        m.write(100, other, 0, other.length);
        assertThat(xen.readGuestMemory(guest.domid(), 100, other.length)).isEqualTo(other);
        assertThat(seam.privcmdMappingCount()).isZero();
    }

    @Test
    void readsAndWritesAgreeWithTheGuestAnywhereInItsMemory() {
        byte[] content = new byte[GUEST_KB * 1024];
        new Random(11).nextBytes(content);
        xen.writeGuestMemory(guest.domid(), 0, content);
        MappedPhysicalMemory m = memory();
        qt().withFixedSeed(0x6d61_7070L).withExamples(200)
                .forAll(longs().between(0, content.length - 1), integers().between(0, 3 * PAGE),
                        integers().between(0, 255))
                .assuming((address, length, fill) -> address + length <= content.length)
                .checkAssert((address, length, fill) -> {
                    int a = (int) (long) address;
                    byte[] b = new byte[length];
                    try {
                        m.read(address, b, 0, length);
                        assertThat(b).isEqualTo(Arrays.copyOfRange(content, a, a + length));
                        Arrays.fill(b, (byte) (int) fill);
                        m.write(address, b, 0, length);
                    } catch (GuestMemoryException e) {
                        throw new AssertionError(e);
                    }
                    System.arraycopy(b, 0, content, a, length);
                    assertThat(xen.readGuestMemory(guest.domid(), Math.max(0, a - 8), Math.min(length + 16,
                            content.length - Math.max(0, a - 8))))
                            .isEqualTo(Arrays.copyOfRange(content, Math.max(0, a - 8),
                                    Math.max(0, a - 8) + Math.min(length + 16, content.length - Math.max(0, a - 8))));
                });
        assertThat(seam.privcmdMappingCount()).isZero();
    }

    @Test
    void beyondTheDomainsMemoryNamesTheFirstAddressItCouldNotReach() {
        long end = (long) GUEST_KB * 1024;
        xen.writeGuestMemory(guest.domid(), end - 4, ascii("last"));
        MappedPhysicalMemory m = memory();
        GuestFrameException e = (GuestFrameException) catchGuestMemory(() -> m.read(end - 4, new byte[8], 0, 8));
        assertThat(e.address()).isEqualTo(end);
        assertThat(e.gfn()).isEqualTo(end / PAGE);
        assertThat(e.errno()).isEqualTo(Errno.EINVAL);
        assertThat(e.domid()).isEqualTo(guest.domid());
        assertThat(e).hasMessage("reading guest-physical 0x802000 of domain " + guest.domid()
                + " (gfn 0x802): EINVAL (22): not RAM of the domain (beyond its memory, a hole or an MMIO range),"
                + " or the domain is dying; check the address against the domain's memory");
        assertThat(seam.privcmdMappingCount()).isZero();
    }

    @Test
    void aWriteThatCannotReachEveryByteWritesNone() {
        long end = (long) GUEST_KB * 1024;
        MappedPhysicalMemory m = memory();
        GuestFrameException e = (GuestFrameException) catchGuestMemory(
                () -> m.write(end - 4, ascii("too far"), 0, 7));
        assertThat(e).hasMessageStartingWith("writing guest-physical 0x802000");
        assertThat(xen.readGuestMemory(guest.domid(), end - 4, 4)).containsExactly(0, 0, 0, 0);
        // and across mappings: the refused frame is in the second mapping, the first is left alone
        long start = end - (long) ForeignMemory.MAX_PAGES * PAGE - 4;
        byte[] big = new byte[ForeignMemory.MAX_PAGES * PAGE + 8];
        Arrays.fill(big, (byte) 1);
        GuestFrameException far = (GuestFrameException) catchGuestMemory(() -> m.write(start, big, 0, big.length));
        assertThat(far.gfn()).isEqualTo(end / PAGE);
        assertThat(xen.readGuestMemory(guest.domid(), start, 4)).containsExactly(0, 0, 0, 0);
        assertThat(seam.privcmdMappingCount()).isZero();
    }

    @Test
    void pagedOutAndUnknownDomainsSayWhatToDo() {
        xen.pageOut(guest.domid(), 3, Integer.MAX_VALUE); // a pager that never answers
        MappedPhysicalMemory m = memory();
        GuestFrameException paged = (GuestFrameException) catchGuestMemory(() -> m.read(3 * PAGE + 5, new byte[1], 0, 1));
        assertThat(paged.errno()).isEqualTo(Errno.ENOENT);
        assertThat(paged).hasMessageContaining("0x3005").hasMessageContaining("paged out")
                .hasMessageContaining("try again later");
        privcmd.close();
        MappedPhysicalMemory nobody = memory(seam, 4000);
        GuestFrameException none = (GuestFrameException) catchGuestMemory(() -> nobody.read(0, new byte[1], 0, 1));
        assertThat(none.errno()).isEqualTo(Errno.ESRCH);
        assertThat(none).hasMessageContaining("no such domain; check the domain id");
    }

    @Test
    void aMappingRefusedAsAWholeKeepsItsCause() {
        MappedPhysicalMemory m = memory(new ForwardingSeam(seam) {
            @Override
            public int ioctl(int fd, int request, long arg) throws NativeException {
                if (request == Linux.IOCTL_PRIVCMD_MMAPBATCH_V2) {
                    throw new NativeException("ioctl", Errno.EPERM); // a privcmd fd restricted to another domain
                }
                return super.ioctl(fd, request, arg);
            }
        }, guest.domid());
        GuestMemoryException e = catchGuestMemory(() -> m.read(0x1000, new byte[4], 0, 4));
        assertThat(e).isNotInstanceOf(GuestFrameException.class).hasCauseInstanceOf(NativeException.class)
                .hasMessage("reading 4 bytes at guest-physical 0x1000 of domain " + guest.domid()
                        + ": ioctl(IOCTL_PRIVCMD_MMAPBATCH_V2) of 1 frame(s) of domain " + guest.domid() + ": EPERM (1)");
        assertThat(seam.privcmdMappingCount()).isZero();
    }

    @Test
    void writingAForkGivesItItsOwnCopyTheParentKeepsItsBytesAndAResetRestoresThem() throws Exception {
        xen.writeGuestMemory(guest.domid(), 0x5000, ascii("counter=41"));
        ForkedGuest fork = ForkedGuest.of(xen, seam, guest);
        MappedPhysicalMemory parent = memory();
        MappedPhysicalMemory child = new MappedPhysicalMemory(new ForeignMemory(privcmd), fork.domid());
        byte[] b = new byte[10];
        child.read(0x5000, b, 0, 10);
        assertThat(b).isEqualTo(ascii("counter=41"));
        child.write(0x5008, ascii("42"), 0, 2);
        child.read(0x5000, b, 0, 10);
        assertThat(b).isEqualTo(ascii("counter=42"));
        parent.read(0x5000, b, 0, 10);
        assertThat(b).isEqualTo(ascii("counter=41"));
        fork.reset();
        child.read(0x5000, b, 0, 10);
        assertThat(b).isEqualTo(ascii("counter=41"));
    }

    @Test
    void argumentsOutsideTheContractAreRefusedUnmapped() {
        MappedPhysicalMemory m = memory();
        assertThatThrownBy(() -> m.read(-1, new byte[1], 0, 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("guest-physical addresses are 0 to 0xfffffffffffff (52 bits)");
        assertThatThrownBy(() -> m.read(MappedPhysicalMemory.ADDRESS_LIMIT - 1, new byte[2], 0, 2))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> m.read(0, new byte[MappedPhysicalMemory.MAX_BYTES + 1], 0,
                MappedPhysicalMemory.MAX_BYTES + 1)).hasMessageContaining("at most 16777216 (16 MiB)");
        assertThatThrownBy(() -> m.write(0, new byte[4], 2, 3)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> m.read(0, null, 0, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new MappedPhysicalMemory(new ForeignMemory(privcmd), 0))
                .hasMessageContaining("other than the control domain");
        assertThatThrownBy(() -> new MappedPhysicalMemory(new ForeignMemory(privcmd), 0x7ff0))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(xen.calls()).isEmpty();
    }

    interface GuestMemoryCall {
        void run() throws GuestMemoryException;
    }

    private static GuestMemoryException catchGuestMemory(GuestMemoryCall call) {
        try {
            call.run();
        } catch (GuestMemoryException e) {
            return e;
        }
        throw new AssertionError("expected a GuestMemoryException");
    }
}
