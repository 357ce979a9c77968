package org.xenfork.sim;

import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;

/**
 * A domain's guest-physical memory, page by page: each gfn is absent, a private page (in
 * {@code tot_pages}), a shared entry (in {@code shr_pages}) or paged out (in {@code paged_pages}),
 * and a page has contents, its {@link Frame}.
 *
 * <p>Modelled after {@code xen/arch/x86/mm/mem_sharing.c}: nominating a private page makes it shared
 * (its owner's {@code tot_pages} drops by one and {@code shr_pages} grows by one:
 * {@code page_make_sharable}, {@code mem_sharing_gfn_alloc}), unless a dom0 mapping holds it; a shared
 * entry added to a fork counts in the fork's {@code shr_pages} only ({@code add_to_physmap}) and refers
 * to the same frame; unsharing gives the domain a private copy. Paging after
 * {@code xen/arch/x86/mm/mem_paging.c}: an evicted page leaves {@code tot_pages} and joins
 * {@code paged_pages}; a pager brings it back.
 *
 * <p>Contents are sparse: a page nobody has written or mapped has no frame yet and reads as zeros
 * (so a 1 GiB guest costs nothing until used). Large pages, grant and special pages are not modelled.
 */
final class P2m {
    /** A page Xen's pager evicted, and the populate requests left until it has brought it back. */
    private static final class PagedOut {
        final Frame frame;
        int requestsLeft;

        PagedOut(Frame frame, int requestsLeft) {
            this.frame = frame;
            this.requestsLeft = requestsLeft;
        }
    }

    private final BitSet privatePages = new BitSet();
    private final BitSet sharedPages = new BitSet();
    /** The frame of a private or shared entry, where it has one (absent: an untouched zero page). */
    private final Map<Integer, Frame> frames = new HashMap<>();
    private final Map<Integer, PagedOut> pagedOut = new HashMap<>();

    /** Populates gfns {@code 0 .. pages-1} with private pages (a booted guest's RAM). */
    void populate(long pages) {
        privatePages.set(0, Math.toIntExact(pages));
    }

    /** {@code guest_physmap_add_page} of a fresh, scrubbed page at {@code gfn} (an old entry there is replaced). */
    void add(long gfn) {
        int i = index(gfn);
        sharedPages.clear(i);
        pagedOut.remove(i);
        frames.remove(i);
        privatePages.set(i);
    }

    /**
     * {@code guest_remove_page}: the entry at {@code gfn} leaves the physmap; its frame lives on in
     * whatever still refers to it (a dom0 mapping, Xen's own mapping of a ring page).
     */
    void remove(long gfn) {
        int i = index(gfn);
        privatePages.clear(i);
        sharedPages.clear(i);
        pagedOut.remove(i);
        frames.remove(i);
    }

    long totPages() {
        return privatePages.cardinality();
    }

    long shrPages() {
        return sharedPages.cardinality();
    }

    /** {@code d->paged_pages}. */
    long pagedPages() {
        return pagedOut.size();
    }

    /** Whether gfn is a number this p2m can hold (the simulator's p2m ends at 2^31 frames, 8 TiB). */
    static boolean inRange(long gfn) {
        return gfn >= 0 && gfn <= Integer.MAX_VALUE;
    }

    boolean has(long gfn) {
        return isPrivate(gfn) || isShared(gfn);
    }

    boolean isPrivate(long gfn) {
        return privatePages.get(index(gfn));
    }

    boolean isShared(long gfn) {
        return sharedPages.get(index(gfn));
    }

    boolean isPagedOut(long gfn) {
        return pagedOut.containsKey(index(gfn));
    }

    /** The frame behind a private or shared entry; null for an untouched zero page or no entry. */
    Frame peek(long gfn) {
        return frames.get(index(gfn));
    }

    /** The frame behind a private or shared entry, made now if the page was untouched (something maps or writes it). */
    Frame frame(long gfn) {
        int i = index(gfn);
        if (!privatePages.get(i) && !sharedPages.get(i)) {
            throw new IllegalStateException("no page at gfn 0x" + Long.toHexString(gfn));
        }
        return frames.computeIfAbsent(i, k -> new Frame());
    }

    /**
     * Whether {@code nominate_page} would succeed: a shared entry already is; a private page can be
     * made sharable unless a dom0 mapping holds a reference to it ({@code page_make_sharable}: E2BIG).
     */
    boolean canNominate(long gfn) {
        int i = index(gfn);
        if (sharedPages.get(i)) {
            return true;
        }
        Frame f = frames.get(i);
        return privatePages.get(i) && (f == null || !f.isMapped());
    }

    /**
     * {@code nominate_page}: a private page becomes shared; an already shared one stays so. False when
     * there is no page at {@code gfn} to share or a mapping holds it.
     */
    boolean nominate(long gfn) {
        if (!canNominate(gfn)) {
            return false;
        }
        int i = index(gfn);
        privatePages.clear(i);
        sharedPages.set(i);
        return true;
    }

    /** {@code add_to_physmap}: a shared entry referring to an ancestor's shared frame. */
    void addShared(long gfn, Frame shared) {
        int i = index(gfn);
        sharedPages.set(i);
        put(i, shared);
    }

    /** {@code mem_sharing_unshare_page}: the shared entry at {@code gfn} becomes a private copy of its frame. */
    void unshare(long gfn) {
        int i = index(gfn);
        sharedPages.clear(i);
        privatePages.set(i);
        put(i, Frame.copyOf(frames.get(i)));
    }

    /** {@code mem_sharing_fork_page} for a write: a private page with a copy of an ancestor's frame. */
    void addPrivateCopy(long gfn, Frame source) {
        int i = index(gfn);
        sharedPages.clear(i);
        privatePages.set(i);
        put(i, Frame.copyOf(source));
    }

    /**
     * The memory half of {@code mem_sharing_fork_reset}: every private page that could be nominated is
     * dropped; shared entries stay, and so do pages a dom0 mapping holds.
     */
    void dropPrivatePages() {
        for (int i = privatePages.nextSetBit(0); i >= 0; i = privatePages.nextSetBit(i + 1)) {
            Frame f = frames.get(i);
            if (f == null || !f.isMapped()) {
                privatePages.clear(i);
                frames.remove(i);
            }
        }
    }

    /** {@code domain_relinquish_resources}: everything goes (a dom0 mapping keeps the frame it holds). */
    void clear() {
        privatePages.clear();
        sharedPages.clear();
        frames.clear();
        pagedOut.clear();
    }

    /**
     * {@code p2m_mem_paging_nominate} and {@code _evict}: the private page at {@code gfn} leaves memory;
     * the pager keeps its contents and brings it back after {@code requests} populate requests.
     *
     * @throws IllegalArgumentException unless the page is private and unmapped ({@code p2m_is_pageable},
     *                                  and the reference-count check that refuses a mapped page)
     */
    void pageOut(long gfn, int requests) {
        int i = index(gfn);
        if (!privatePages.get(i)) {
            throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn)
                    + " is not a private page: only those can be paged out (p2m_is_pageable)");
        }
        Frame f = frames.get(i);
        if (f != null && f.isMapped()) {
            throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn)
                    + " is mapped by dom0: Xen refuses to page it out (p2m_mem_paging_nominate: EBUSY)");
        }
        if (requests < 1) {
            throw new IllegalArgumentException("a paged-out page comes back after at least 1 request");
        }
        privatePages.clear(i);
        frames.remove(i);
        pagedOut.put(i, new PagedOut(f, requests));
    }

    /**
     * {@code p2m_mem_paging_populate}: a request for a paged-out page, which the pager answers; true
     * when this request brought the page back (the access that made it still found it paged out).
     */
    boolean pagingRequest(long gfn) {
        int i = index(gfn);
        PagedOut p = pagedOut.get(i);
        if (p == null) {
            throw new IllegalStateException("gfn 0x" + Long.toHexString(gfn) + " is not paged out");
        }
        if (--p.requestsLeft > 0) {
            return false;
        }
        pagedOut.remove(i);
        privatePages.set(i);
        put(i, p.frame);
        return true;
    }

    private void put(int i, Frame f) {
        if (f == null) {
            frames.remove(i);
        } else {
            frames.put(i, f);
        }
    }

    private static int index(long gfn) {
        if (!inRange(gfn)) {
            throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn) + " is outside the simulated range");
        }
        return (int) gfn;
    }
}
