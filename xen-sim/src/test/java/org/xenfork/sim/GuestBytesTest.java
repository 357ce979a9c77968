package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.Privcmd;

/** The contents of simulated guests: the test helpers that put and read bytes, and paging out. */
class GuestBytesTest {
    private static final int PAGE = Linux.PAGE_SIZE;

    private final SimClient c;
    private final SimDomain parent;

    GuestBytesTest() throws NativeException {
        c = SimClient.of("4.18");
        parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 400)); // 100 pages
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private SimDomain fork() throws NativeException {
        int child = c.newForkChild(1);
        assertThat(c.fork(child, parent.domid(), 0).ok()).isTrue();
        return c.xen.domain(child).orElseThrow();
    }

    @Test
    void untouchedMemoryIsZeroAndWrittenBytesReadBackAcrossPages() {
        assertThat(c.xen.readGuestMemory(parent.domid(), 0, 16)).containsOnly(0);
        c.xen.writeGuestMemory(parent.domid(), 2 * PAGE - 3, ascii("abcdef"));
        assertThat(c.xen.readGuestMemory(parent.domid(), 2 * PAGE - 4, 8)).isEqualTo(ascii("\0abcdef\0"));
        assertThat(parent.totPages()).isEqualTo(100);
    }

    @Test
    void aForkReadsItsParentsBytesWithoutLookingChangingAnything() throws NativeException {
        c.xen.writeGuestMemory(parent.domid(), 5 * PAGE, ascii("from the parent"));
        SimDomain fork = fork();
        assertThat(c.xen.readGuestMemory(fork.domid(), 5 * PAGE, 15)).isEqualTo(ascii("from the parent"));
        assertThat(List.of(fork.totPages(), fork.shrPages(), parent.shrPages())).containsExactly(0L, 0L, 0L);
    }

    @Test
    void writingIntoAForkIsAGuestWriteThatCopiesThePage() throws NativeException {
        c.xen.writeGuestMemory(parent.domid(), 5 * PAGE, ascii("from the parent"));
        SimDomain fork = fork(); // paused: writing does not need it to run
        c.xen.writeGuestMemory(fork.domid(), 5 * PAGE, ascii("FROM"));
        assertThat(c.xen.readGuestMemory(fork.domid(), 5 * PAGE, 15)).isEqualTo(ascii("FROM the parent"));
        assertThat(c.xen.readGuestMemory(parent.domid(), 5 * PAGE, 15)).isEqualTo(ascii("from the parent"));
        assertThat(fork.totPages()).isEqualTo(1);
    }

    @Test
    void aRangeBeyondTheGuestsMemoryIsRefusedAndNothingIsWritten() {
        assertThatThrownBy(() -> c.xen.readGuestMemory(parent.domid(), 100 * PAGE, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no page at gfn 0x64");
        assertThatThrownBy(() -> c.xen.writeGuestMemory(parent.domid(), 100 * PAGE - 2, ascii("four")))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(c.xen.readGuestMemory(parent.domid(), 100 * PAGE - 2, 2)).containsExactly(0, 0);
        assertThatThrownBy(() -> c.xen.readGuestMemory(parent.domid(), -1, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.xen.readGuestMemory(99, 0, 1)).hasMessageContaining("no domain 99");
    }

    @Test
    void onlyAPrivateUnmappedPageCanBePagedOutAndTheGuestWaitsForIt() throws NativeException {
        SimDomain fork = fork();
        c.domctl("unpausedomain", fork.domid());
        c.xen.guestAccess(fork.domid(), 1, false); // shares the parent's gfn 1
        assertThatThrownBy(() -> c.xen.pageOut(parent.domid(), 1, 1)).hasMessageContaining("p2m_is_pageable");
        assertThatThrownBy(() -> c.xen.pageOut(parent.domid(), 100, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.xen.pageOut(parent.domid(), 2, 0)).hasMessageContaining("at least 1");
        try (Privcmd privcmd = Privcmd.open(c.seam);
             ForeignMapping m = new ForeignMemory(privcmd).map(parent.domid(), Linux.PROT_READ, 3)) {
            assertThat(m.frameError(0)).isZero();
            assertThatThrownBy(() -> c.xen.pageOut(parent.domid(), 3, 1)).hasMessageContaining("EBUSY");
        }
        assertThatThrownBy(() -> c.xen.pageOut(fork.domid(), 1, 5)).hasMessageContaining("not a private page");
    }

    @Test
    void aPagedOutPageCannotBeTouchedUntilItIsBack() throws NativeException {
        c.xen.pageOut(parent.domid(), 4, 1);
        assertThatThrownBy(() -> c.xen.guestAccess(parent.domid(), 4, false)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("paged out");
        assertThatThrownBy(() -> c.xen.readGuestMemory(parent.domid(), 4 * PAGE, 1)).hasMessageContaining("paged out");
        assertThat(parent.totPages()).isEqualTo(99);
        assertThat(parent.pagedPages()).isEqualTo(1);
    }

    @Test
    void aMappingKeepsItsPageAfterTheDomainIsDestroyed() throws NativeException {
        c.xen.writeGuestMemory(parent.domid(), 7 * PAGE, ascii("still here"));
        try (Privcmd privcmd = Privcmd.open(c.seam);
             ForeignMapping m = new ForeignMemory(privcmd).map(parent.domid(), Linux.PROT_READ, 7)) {
            assertThat(c.domctl("destroydomain", parent.domid()).ok()).isTrue();
            assertThat(c.xen.domain(parent.domid())).isEmpty();
            byte[] b = new byte[10];
            m.read(0, b, 0, 10); // the page reference the mapping took keeps the page
            assertThat(b).isEqualTo(ascii("still here"));
        }
    }
}
