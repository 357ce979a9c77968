package org.xenfork.sim;

import org.xenfork.privcmd.Linux;

/**
 * One 4 KiB page of guest memory with its contents: what Xen's {@code struct page_info} and
 * the machine frame behind it are to a p2m entry. A p2m entry refers to a frame; a shared
 * entry refers to the same frame as the entries it shares with (mem_sharing's {@code dom_cow}
 * page), and a dom0 mapping refers to the frame it mapped, not to the gfn: when the guest's
 * entry later changes (unshared, dropped by a fork reset, the domain destroyed), the mapping
 * keeps the page it took, as the page reference {@code mod_l1_entry} takes keeps it in Xen.
 *
 * <p>The bytes of a frame are changed in place only while it is private to one domain:
 * every write reaches a page through {@link MemSharing#resolve} with unsharing first.
 */
final class Frame {
    static final int SIZE = Linux.PAGE_SIZE;

    private final byte[] bytes;
    /**
     * dom0 mappings of this frame. Each holds a page reference, so Xen will not make the page
     * sharable ({@code page_make_sharable}: the reference count must be exactly 2), page it out
     * ({@code p2m_mem_paging_nominate}) or drop it in a fork reset ({@code mem_sharing_fork_reset}
     * skips pages it cannot nominate).
     */
    private int foreignMappings;

    /** A zeroed frame (Xen scrubs pages it hands to a domain). */
    Frame() {
        this.bytes = new byte[SIZE];
    }

    private Frame(byte[] bytes) {
        this.bytes = bytes;
    }

    /** {@code copy_domain_page}: a new frame with the bytes of {@code source}; null (an untouched zero page) stays null. */
    static Frame copyOf(Frame source) {
        return source == null ? null : new Frame(source.bytes.clone());
    }

    void read(int offset, byte[] dst, int dstOffset, int length) {
        System.arraycopy(bytes, offset, dst, dstOffset, length);
    }

    void write(int offset, byte[] src, int srcOffset, int length) {
        System.arraycopy(src, srcOffset, bytes, offset, length);
    }

    boolean isMapped() {
        return foreignMappings > 0;
    }

    /** A dom0 page-table entry now points here. */
    void mapped() {
        foreignMappings++;
    }

    /** One dom0 page-table entry pointing here was removed (munmap). */
    void unmapped() {
        if (foreignMappings == 0) {
            throw new IllegalStateException("a frame unmapped more often than mapped");
        }
        foreignMappings--;
    }
}
