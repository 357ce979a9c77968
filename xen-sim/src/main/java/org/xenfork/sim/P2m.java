package org.xenfork.sim;

import java.util.BitSet;

/**
 * A domain's guest-physical memory, page by page, just far enough to count
 * what {@code getdomaininfo} reports: each gfn is absent, a private page (in
 * {@code tot_pages}), or a shared entry (in {@code shr_pages}).
 *
 * <p>Modelled after {@code xen/arch/x86/mm/mem_sharing.c}: nominating a private
 * page makes it shared (its owner's {@code tot_pages} drops by one and
 * {@code shr_pages} grows by one: {@code page_make_sharable},
 * {@code mem_sharing_gfn_alloc}); a shared entry added to a fork counts in the
 * fork's {@code shr_pages} only ({@code add_to_physmap}); unsharing gives the
 * domain a private copy. Page contents, large pages, grant and special pages
 * are not modelled.
 */
final class P2m {
    private final BitSet privatePages = new BitSet();
    private final BitSet sharedPages = new BitSet();

    /** Populates gfns {@code 0 .. pages-1} with private pages (a booted guest's RAM). */
    void populate(long pages) {
        privatePages.set(0, Math.toIntExact(pages));
    }

    long totPages() {
        return privatePages.cardinality();
    }

    long shrPages() {
        return sharedPages.cardinality();
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

    /**
     * {@code nominate_page}: a private page becomes shared; an already shared
     * one stays so. False when there is no page at {@code gfn} to share.
     */
    boolean nominate(long gfn) {
        int i = index(gfn);
        if (privatePages.get(i)) {
            privatePages.clear(i);
            sharedPages.set(i);
            return true;
        }
        return sharedPages.get(i);
    }

    /** {@code add_to_physmap}: a shared entry pointing at an ancestor's shared page. */
    void addShared(long gfn) {
        sharedPages.set(index(gfn));
    }

    /** A private page at {@code gfn}: a forked copy, or the private copy that replaces a shared entry. */
    void makePrivate(long gfn) {
        int i = index(gfn);
        sharedPages.clear(i);
        privatePages.set(i);
    }

    /**
     * The memory half of {@code mem_sharing_fork_reset}: every private page
     * (one that could be nominated) is dropped; shared entries stay.
     */
    void dropPrivatePages() {
        privatePages.clear();
    }

    /** {@code domain_relinquish_resources}: everything goes. */
    void clear() {
        privatePages.clear();
        sharedPages.clear();
    }

    private static int index(long gfn) {
        if (gfn < 0 || gfn > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("gfn 0x" + Long.toHexString(gfn) + " is outside the simulated range");
        }
        return (int) gfn;
    }
}
