package org.xenfork.privcmd;

/**
 * A page-granular piece of hypercall-safe memory: Xen may read and write it
 * during a hypercall without faulting. Obtained from {@link HypercallBuffers}
 * and given back with {@link #close()}; its contents are zero when handed out.
 */
public final class HypercallBuffer implements AutoCloseable {
    private final HypercallBuffers pool;
    private final long address;
    private final int capacity;
    private final int size;
    private boolean released;

    HypercallBuffer(HypercallBuffers pool, long address, int capacity, int size) {
        this.pool = pool;
        this.address = address;
        this.capacity = capacity;
        this.size = size;
    }

    /** The address Xen is given (a guest handle in the hypercall's struct). */
    public long address() {
        return address;
    }

    /** The bytes asked for; the mapping itself is {@link #capacity()} bytes. */
    public int size() {
        return size;
    }

    public int capacity() {
        return capacity;
    }

    /** Copies {@code src[0..length)} to the start of the buffer. */
    public void put(byte[] src, int length) {
        check(length);
        pool.seam().write(address, src, 0, length);
    }

    /** Copies the buffer's first {@code length} bytes into {@code dst}. */
    public void get(byte[] dst, int length) {
        check(length);
        pool.seam().read(address, dst, 0, length);
    }

    /** The buffer's first {@code length} bytes, as a new array. */
    public byte[] get(int length) {
        byte[] out = new byte[length];
        get(out, length);
        return out;
    }

    private void check(int length) {
        if (released) {
            throw new IllegalStateException("hypercall buffer used after close");
        }
        if (length < 0 || length > capacity) {
            throw new IndexOutOfBoundsException(length + " bytes do not fit a " + capacity + "-byte hypercall buffer");
        }
    }

    /** The pool unmapped this buffer on close: any further use is an error. */
    void markReleased() {
        released = true;
    }

    /** Gives the buffer back to its pool (zeroed there before reuse). */
    @Override
    public void close() {
        if (!released) {
            released = true;
            pool.release(this);
        }
    }
}
