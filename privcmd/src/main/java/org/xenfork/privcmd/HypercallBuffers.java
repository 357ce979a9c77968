package org.xenfork.privcmd;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Hypercall-safe memory as libxencall makes it (tools/libs/call/linux.c): pages mmapped
 * MAP_SHARED from {@code /dev/xen/hypercall} (privcmd-buf), or, where that
 * device is missing, anonymous pages mapped MAP_LOCKED, kept out of forked
 * children (MADV_DONTFORK) and touched so no copy-on-write fault hits Xen.
 * Java heap memory is never handed to Xen: it can move and fault (-EFAULT).
 *
 * <p>Buffers of up to {@link #CACHED_PAGES} pages are pooled, a few per size,
 * and zeroed before reuse; larger ones (an HVM context, a domain list) are
 * mapped per use. Not thread-safe: one pool belongs to one {@link Privcmd}.
 */
public final class HypercallBuffers implements AutoCloseable {
    /** libxencall caches 1..4-page buffers, 4 of each (BUFFER_CACHE_NRPAGES, BUFFER_CACHE_SIZE). */
    static final int CACHED_PAGES = 4;
    static final int CACHED_PER_SIZE = 4;
    /** The largest buffer handed out: far above any HVM context, far below a size that overflows. */
    public static final int MAX_BYTES = 64 << 20;
    private static final byte[] ZERO_PAGE = new byte[Linux.PAGE_SIZE];

    private final NativeSeam seam;
    private final int hypercallFd; // -1: anonymous fallback
    /** Indexed by page count; slot 0 stays empty so that a count needs no offset. */
    private final List<Deque<Long>> cache = new ArrayList<>(CACHED_PAGES + 1);
    /** Buffers handed out and not yet given back: unmapped by {@link #close()} if their owner never returns them. */
    private final java.util.Set<HypercallBuffer> live =
            java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    private boolean closed;

    HypercallBuffers(NativeSeam seam, int hypercallFd) {
        this.seam = seam;
        this.hypercallFd = hypercallFd;
        cache.add(null);
        for (int i = 1; i <= CACHED_PAGES; i++) {
            cache.add(new ArrayDeque<>(CACHED_PER_SIZE));
        }
    }

    NativeSeam seam() {
        return seam;
    }

    /** True when buffers come from {@code /dev/xen/hypercall}, false for the anonymous locked fallback. */
    public boolean usesHypercallDevice() {
        return hypercallFd >= 0;
    }

    /** A zeroed buffer of at least {@code size} bytes. */
    public HypercallBuffer acquire(int size) throws NativeException {
        if (closed) {
            throw new IllegalStateException("hypercall buffers closed");
        }
        if (size <= 0 || size > MAX_BYTES) {
            throw new IllegalArgumentException("hypercall buffer of " + size + " bytes (1 to " + MAX_BYTES + " allowed)");
        }
        int pages = (size + Linux.PAGE_SIZE - 1) / Linux.PAGE_SIZE;
        int bytes = pages * Linux.PAGE_SIZE;
        Long cached = pages <= CACHED_PAGES ? cache.get(pages).pollFirst() : null;
        long address = cached != null ? cached : map(bytes);
        HypercallBuffer b = new HypercallBuffer(this, address, bytes, size);
        live.add(b);
        return b;
    }

    void release(HypercallBuffer b) {
        if (!live.remove(b)) {
            return; // already unmapped by close()
        }
        int pages = b.capacity() / Linux.PAGE_SIZE;
        try {
            if (!closed && pages <= CACHED_PAGES && cache.get(pages).size() < CACHED_PER_SIZE) {
                // Zero now, so the next user starts from zeroed memory as from a fresh mapping.
                for (int off = 0; off < b.capacity(); off += Linux.PAGE_SIZE) {
                    seam.write(b.address() + off, ZERO_PAGE, 0, Linux.PAGE_SIZE);
                }
                cache.get(pages).addFirst(b.address());
            } else {
                unmap(b.address(), b.capacity());
            }
        } catch (NativeException e) {
            throw new IllegalStateException("releasing a hypercall buffer: " + e.getMessage(), e);
        }
    }

    private long map(int bytes) throws NativeException {
        int rw = Linux.PROT_READ | Linux.PROT_WRITE;
        if (hypercallFd >= 0) {
            // privcmd-buf allocates zeroed, pinned pages at mmap time; it accepts MAP_SHARED only.
            return seam.mmap(bytes, rw, Linux.MAP_SHARED, hypercallFd, 0);
        }
        long p = seam.mmap(bytes, rw, Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS | Linux.MAP_LOCKED, -1, 0);
        try {
            seam.madvise(p, bytes, Linux.MADV_DONTFORK);
            for (int off = 0; off < bytes; off += Linux.PAGE_SIZE) {
                seam.write(p + off, ZERO_PAGE, 0, 1); // touch: populate now, not during the hypercall
            }
        } catch (NativeException e) {
            seam.munmap(p, bytes);
            throw e;
        }
        return p;
    }

    private void unmap(long address, int bytes) throws NativeException {
        if (hypercallFd < 0) {
            seam.madvise(address, bytes, Linux.MADV_DOFORK);
        }
        seam.munmap(address, bytes);
    }

    /** Unmaps every buffer: the cached ones and any still handed out (using those afterwards fails). */
    @Override
    public void close() throws NativeException {
        if (closed) {
            return;
        }
        closed = true;
        for (HypercallBuffer b : live) {
            b.markReleased();
            unmap(b.address(), b.capacity());
        }
        live.clear();
        for (int pages = 1; pages <= CACHED_PAGES; pages++) {
            for (Long a : cache.get(pages)) {
                unmap(a, pages * Linux.PAGE_SIZE);
            }
            cache.get(pages).clear();
        }
    }
}
