package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.xenfork.abi.StructCodec;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;

/**
 * IOCTL_PRIVCMD_MMAPBATCH_V2 byte by byte, as Linux's privcmd_ioctl_mmap_batch and xen_remap_pfn answer
 * it on a PV dom0, with Xen's mmu_update behind: the ioctl's own checks, the per-frame errnos, the
 * ioctl's result, the mmu_update calls. privcmd is Linux's, not Xen's: one release (4.17) will do.
 */
class PrivcmdMmapBatchTest {
    private static final int PAGE = Linux.PAGE_SIZE;
    private static final int RW = Linux.PROT_READ | Linux.PROT_WRITE;

    private final SimClient c;
    private final SimDomain guest;

    PrivcmdMmapBatchTest() throws NativeException {
        c = SimClient.of("4.17");
        guest = c.xen.addGuest(GuestSpec.hvm("guest", 1, 4 * 1024)); // 1024 pages: gfns 0..0x3ff
    }

    /** One ioctl: its errno (0 when it returned 0) and the err[] it left. */
    record Batch(int errno, int[] err) {
    }

    private long privcmdMapping(int pages, int prot) throws NativeException {
        return c.seam.mmap((long) pages * PAGE, prot, Linux.MAP_SHARED, c.privcmd, 0);
    }

    private Batch batch(int domid, long addr, long... gfns) throws NativeException {
        long arr = c.buffer(gfns.length * 8);
        ByteBuffer a = ByteBuffer.allocate(gfns.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long g : gfns) {
            a.putLong(g);
        }
        c.seam.write(arr, a.array(), 0, a.capacity());
        long err = c.buffer(gfns.length * 4);
        c.seam.write(err, filled(gfns.length * 4), 0, gfns.length * 4); // the kernel must zero it
        int errno = ioctl(struct(gfns.length, domid, addr, arr, err));
        byte[] e = c.get(err, gfns.length * 4);
        ByteBuffer eb = ByteBuffer.wrap(e).order(ByteOrder.LITTLE_ENDIAN);
        int[] out = new int[gfns.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = eb.getInt();
        }
        return new Batch(errno, out);
    }

    private long struct(long num, long dom, long addr, long arr, long err) throws NativeException {
        Map<String, String> f = new LinkedHashMap<>();
        f.put("num", Long.toString(num));
        f.put("dom", Long.toString(dom));
        f.put("addr", Long.toUnsignedString(addr));
        f.put("arr", Long.toUnsignedString(arr));
        f.put("err", Long.toUnsignedString(err));
        return c.put(StructCodec.encode(c.struct("privcmd_mmapbatch_v2"), f));
    }

    private int ioctl(long struct) {
        try {
            int rc = c.seam.ioctl(c.privcmd, Linux.IOCTL_PRIVCMD_MMAPBATCH_V2, struct);
            assertThat(rc).isZero();
            return 0;
        } catch (NativeException e) {
            return e.errno();
        }
    }

    private static byte[] filled(int n) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) 0x5a);
        return b;
    }

    private static long[] range(long first, int n) {
        long[] g = new long[n];
        for (int i = 0; i < n; i++) {
            g[i] = first + i;
        }
        return g;
    }

    @Test
    void mapsEveryFrameAndTheProcessSeesTheGuestsBytes() throws NativeException {
        c.xen.writeGuestMemory(guest.domid(), 0x5000 + 4090, "hello, guest".getBytes());
        long m = privcmdMapping(2, Linux.PROT_READ);
        Batch b = batch(guest.domid(), m, 5, 6);
        assertThat(b.errno()).isZero();
        assertThat(b.err()).containsExactly(0, 0);
        byte[] seen = new byte[12];
        c.seam.read(m + 4090, seen, 0, 12);
        assertThat(new String(seen)).isEqualTo("hello, guest");
        assertThat(c.xen.calls()).extracting(LoggedCall::toString).containsExactly("mmu_update dom=" + guest.domid() + " -> 0");
    }

    @Test
    void aFrameBeyondTheDomainsMemoryIsEinvalAndTheIoctlStillReturnsZero() throws NativeException {
        long m = privcmdMapping(3, Linux.PROT_READ);
        Batch b = batch(guest.domid(), m, 1, 0x400, 2);
        assertThat(b.errno()).isZero();
        assertThat(b.err()).containsExactly(0, -Errno.EINVAL, 0);
        // mmu_update stops at the failing entry; Linux skips it and goes on with the next call
        assertThat(c.xen.calls()).extracting(LoggedCall::errno).containsExactly(Errno.EINVAL, 0);
        assertThatThrownBy(() -> c.seam.read(m + PAGE, new byte[1], 0, 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("bus error");
        c.seam.read(m + 2 * PAGE, new byte[1], 0, 1);
    }

    @Test
    void anUnknownDomainAndDomainZeroAreEsrchForEveryFrame() throws NativeException {
        long m = privcmdMapping(2, Linux.PROT_READ);
        assertThat(batch(999, m, 1, 2).err()).containsExactly(-Errno.ESRCH, -Errno.ESRCH);
        long m0 = privcmdMapping(1, Linux.PROT_READ);
        Batch self = batch(0, m0, 1);
        assertThat(self.errno()).isZero();
        assertThat(self.err()).containsExactly(-Errno.ESRCH); // get_pg_owner: "Cannot specify itself"
    }

    @Test
    void aDyingDomainsFramesAreEinval() throws NativeException {
        int child = c.newForkChild(1);
        assertThat(c.fork(child, guest.domid(), 0).ok()).isTrue();
        assertThat(c.domctl("destroydomain", guest.domid()).ok()).isTrue();
        assertThat(guest.isDying()).isTrue(); // the fork holds it
        long m = privcmdMapping(1, Linux.PROT_READ);
        assertThat(batch(guest.domid(), m, 3).err()).containsExactly(-Errno.EINVAL);
    }

    @Test
    void theIoctlSaysEnoentOnlyWhenABlocksLastFrameIsPagedOut() throws NativeException {
        c.xen.pageOut(guest.domid(), 7, 1000);
        long last = privcmdMapping(2, Linux.PROT_READ);
        Batch b = batch(guest.domid(), last, 6, 7);
        assertThat(b.errno()).isEqualTo(Errno.ENOENT);
        assertThat(b.err()).containsExactly(0, -Errno.ENOENT);
        long middle = privcmdMapping(3, Linux.PROT_READ);
        Batch m = batch(guest.domid(), middle, 7, 8, 9);
        assertThat(m.errno()).isZero(); // mmap_batch_fn sees only the last mmu_update's result
        assertThat(m.err()).containsExactly(-Errno.ENOENT, 0, 0);
    }

    @Test
    void theEnoentOfAnyBlocksLastFrameCounts() throws NativeException {
        // 513 frames: block 0 is gfns 0..511 (its last frame paged out), block 1 is gfn 512 alone
        c.xen.pageOut(guest.domid(), 511, 1000);
        long m = privcmdMapping(513, Linux.PROT_READ);
        Batch b = batch(guest.domid(), m, range(0, 513));
        assertThat(b.errno()).isEqualTo(Errno.ENOENT);
        assertThat(b.err()[511]).isEqualTo(-Errno.ENOENT);
        assertThat(Arrays.stream(b.err()).filter(e -> e != 0).count()).isEqualTo(1);
        // 16 entries per mmu_update: 32 calls for block 0 (the failure is its last entry), one for block 1
        assertThat(c.xen.calls()).hasSize(32 + 1);
    }

    @Test
    void aPagedOutFrameComesBackWhenThePagerHasAnsweredAndIsRetriedInPlace() throws NativeException {
        c.xen.writeGuestMemory(guest.domid(), 9 * PAGE, new byte[] {42});
        long before = guest.totPages();
        c.xen.pageOut(guest.domid(), 9, 2);
        assertThat(guest.pagedPages()).isEqualTo(1);
        assertThat(guest.totPages()).isEqualTo(before - 1);
        assertThat(c.domctl("getdomaininfo", guest.domid()).get("u.getdomaininfo.paged_pages")).isEqualTo(1);
        long m = privcmdMapping(2, Linux.PROT_READ);
        assertThat(batch(guest.domid(), m, 8, 9).err()).containsExactly(0, -Errno.ENOENT);
        // a retry covers only the hole: the whole range again is refused, its first page being mapped
        assertThat(batch(guest.domid(), m, 8, 9).errno()).isEqualTo(Errno.EINVAL);
        assertThat(batch(guest.domid(), m + PAGE, 9).err()).containsExactly(-Errno.ENOENT); // second request: back now
        assertThat(batch(guest.domid(), m + PAGE, 9).err()).containsExactly(0);
        byte[] b = new byte[1];
        c.seam.read(m + PAGE, b, 0, 1);
        assertThat(b[0]).isEqualTo((byte) 42); // the pager kept the contents
        assertThat(guest.pagedPages()).isZero();
        assertThat(guest.totPages()).isEqualTo(before);
    }

    @Test
    void theFirstBatchMustCoverThePrivcmdMappingExactly() throws NativeException {
        long m = privcmdMapping(2, Linux.PROT_READ);
        assertThat(batch(guest.domid(), m, 1).errno()).isEqualTo(Errno.EINVAL);          // too short
        assertThat(batch(guest.domid(), m + PAGE, 1, 2).errno()).isEqualTo(Errno.EINVAL); // not at vm_start
        long anon = c.seam.mmap(PAGE, RW, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
        assertThat(batch(guest.domid(), anon, 1).errno()).isEqualTo(Errno.EINVAL);        // not privcmd's
        assertThat(batch(guest.domid(), 0x1000, 1).errno()).isEqualTo(Errno.EINVAL);      // find_vma finds m, which starts higher
        assertThat(c.xen.calls()).isEmpty();
        assertThat(batch(guest.domid(), m, 1, 2).err()).containsExactly(0, 0);
    }

    @Test
    void badArraysAndAnEmptyBatchAreRefusedBeforeXenIsAsked() throws NativeException {
        long m = privcmdMapping(1, Linux.PROT_READ);
        long arr = c.put(new byte[8]);
        long err = c.buffer(4);
        long readOnly = c.seam.mmap(PAGE, Linux.PROT_READ, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
        assertThat(ioctl(0x1000)).isEqualTo(Errno.EFAULT);                                        // the struct
        assertThat(ioctl(struct(1, guest.domid(), m, 0x1000, err))).isEqualTo(Errno.EFAULT);     // arr unreadable
        assertThat(ioctl(struct(1, guest.domid(), m, arr, readOnly))).isEqualTo(Errno.EFAULT);  // err unwritable
        assertThat(ioctl(struct(1, guest.domid(), m, arr, 1L << 47))).isEqualTo(Errno.EFAULT);  // err beyond user space
        assertThat(ioctl(struct(0, guest.domid(), m, arr, err))).isEqualTo(Errno.EINVAL);       // num 0
        assertThat(c.xen.calls()).isEmpty();
    }

    @Test
    void aWritableMappingWritesTheGuestsPage() throws NativeException {
        long m = privcmdMapping(1, RW);
        assertThat(batch(guest.domid(), m, 3).err()).containsExactly(0);
        c.seam.write(m + 100, new byte[] {1, 2, 3}, 0, 3);
        assertThat(c.xen.readGuestMemory(guest.domid(), 3 * PAGE + 100, 3)).containsExactly(1, 2, 3);
        long ro = privcmdMapping(1, Linux.PROT_READ);
        assertThat(batch(guest.domid(), ro, 3).err()).containsExactly(0);
        assertThatThrownBy(() -> c.seam.write(ro, new byte[1], 0, 1)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("protection");
    }

    @Test
    void anInjectedMmuUpdateFaultFailsTheFirstFrameOfThatCallOnly() throws NativeException {
        c.xen.injectFault(SimCall.named("mmu_update", guest.domid()), Errno.ENOMEM);
        long m = privcmdMapping(3, RW);
        Batch b = batch(guest.domid(), m, 1, 2, 3);
        assertThat(b.errno()).isZero();
        assertThat(b.err()).containsExactly(-Errno.ENOMEM, 0, 0);
        assertThat(c.xen.calls()).extracting(LoggedCall::injected).containsExactly(true, false);
    }

    @Test
    void unmappingDropsTheFramesReferences() throws NativeException {
        // A page dom0 maps cannot be shared, so a fork reading it gets a private copy (page_make_sharable).
        long m = privcmdMapping(1, Linux.PROT_READ);
        assertThat(batch(guest.domid(), m, 4).err()).containsExactly(0);
        SimDomain first = runningFork();
        c.xen.guestAccess(first.domid(), 4, false);
        assertThat(List.of(first.totPages(), first.shrPages(), guest.shrPages())).containsExactly(1L, 0L, 0L);
        c.seam.munmap(m, PAGE);
        SimDomain second = runningFork();
        c.xen.guestAccess(second.domid(), 4, false);
        assertThat(List.of(second.totPages(), second.shrPages(), guest.shrPages())).containsExactly(0L, 1L, 1L);
    }

    private SimDomain runningFork() throws NativeException {
        int child = c.newForkChild(1);
        assertThat(c.fork(child, guest.domid(), 0).ok()).isTrue();
        assertThat(c.domctl("unpausedomain", child).ok()).isTrue();
        return c.xen.domain(child).orElseThrow();
    }
}
