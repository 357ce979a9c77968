package org.xenfork.privcmd;

import java.util.Arrays;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * One struct passed to Xen by pointer (a domctl, a sysctl, a sharing op): a
 * Java-side image to build and read, and the hypercall-safe buffer Xen sees.
 * Allocated once per {@link Hypervisor}, so a call allocates nothing.
 */
final class StructCall {
    final StructLayout layout;
    final byte[] bytes;
    final HypercallBuffer buffer;

    StructCall(StructLayout layout, HypercallBuffers pool) throws NativeException {
        this.layout = layout;
        this.bytes = new byte[layout.size()];
        this.buffer = pool.acquire(layout.size());
    }

    /** Starts a new call: every byte zero, pads included (Xen rejects non-zero pads). */
    void reset() {
        Arrays.fill(bytes, (byte) 0);
    }

    void set(Leaf leaf, long value) {
        leaf.write(bytes, 0, value);
    }

    long get(Leaf leaf) {
        return leaf.read(bytes, 0);
    }

    /** Copies the image into the buffer Xen will read. */
    void push() {
        buffer.put(bytes, bytes.length);
    }

    /** Copies what Xen wrote back into the image. */
    void pull() {
        buffer.get(bytes, bytes.length);
    }

    long address() {
        return buffer.address();
    }
}
