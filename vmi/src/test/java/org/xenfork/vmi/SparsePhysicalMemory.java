package org.xenfork.vmi;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * A guest-physical address space in the test's heap: 4 KiB frames that exist only where the
 * test put them, so an address in no frame is unreachable, as a frame Xen will not map is.
 * The page walker's contract is pure (bytes in, translation out), so this is its test double.
 * It keeps the {@link PhysicalMemory} contract: a read or write moves every byte or throws
 * naming the first address it cannot reach, before moving any.
 */
final class SparsePhysicalMemory implements PhysicalMemory {
    static final int PAGE = 4096;

    private final Map<Long, byte[]> frames = new HashMap<>();
    private int reads;
    private int writes;

    /** Makes the frame holding {@code address} exist (zero-filled), if it does not yet. */
    SparsePhysicalMemory add(long address) {
        frames.computeIfAbsent(address & -PAGE, a -> new byte[PAGE]);
        return this;
    }

    /** Writes a little-endian value of {@code size} bytes, making its frame exist (test set-up, not counted). */
    void put(long address, long value, int size) {
        add(address);
        for (int i = 0; i < size; i++) {
            frames.get((address + i) & -PAGE)[(int) ((address + i) & (PAGE - 1))] = (byte) (value >>> (8 * i));
        }
    }

    /** Copies {@code bytes} to {@code address}, making the frames exist (test set-up, not counted). */
    void load(long address, byte[] bytes) {
        for (int i = 0; i < bytes.length; i++) {
            long a = address + i;
            frames.computeIfAbsent(a & -PAGE, f -> new byte[PAGE])[(int) (a & (PAGE - 1))] = bytes[i];
        }
    }

    /** The {@code length} bytes at {@code address}, whose frames must exist (test inspection, not counted). */
    byte[] dump(long address, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            long a = address + i;
            out[i] = frames.get(a & -PAGE)[(int) (a & (PAGE - 1))];
        }
        return out;
    }

    /** Whether the frame holding {@code address} exists. */
    boolean has(long address) {
        return frames.containsKey(address & -PAGE);
    }

    /** Reads a little-endian value (test inspection, not counted). */
    long get(long address, int size) {
        long v = 0;
        for (int i = size - 1; i >= 0; i--) {
            v = v << 8 | (frames.get((address + i) & -PAGE)[(int) ((address + i) & (PAGE - 1))] & 0xff);
        }
        return v;
    }

    /** A deep copy of every frame, ordered, to compare before and after. */
    Map<Long, String> snapshot() {
        Map<Long, String> copy = new TreeMap<>();
        frames.forEach((a, b) -> copy.put(a, java.util.HexFormat.of().formatHex(b)));
        return copy;
    }

    int reads() {
        return reads;
    }

    int writes() {
        return writes;
    }

    @Override
    public void read(long address, byte[] dst, int offset, int length) throws GuestMemoryException {
        reads++;
        check(address, length);
        for (int i = 0; i < length; i++) {
            long a = address + i;
            dst[offset + i] = frames.get(a & -PAGE)[(int) (a & (PAGE - 1))];
        }
    }

    @Override
    public void write(long address, byte[] src, int offset, int length) throws GuestMemoryException {
        writes++;
        check(address, length);
        for (int i = 0; i < length; i++) {
            long a = address + i;
            frames.get(a & -PAGE)[(int) (a & (PAGE - 1))] = src[offset + i];
        }
    }

    private void check(long address, int length) throws GuestMemoryException {
        if (length == 0) {
            return;
        }
        for (long page = address & -PAGE; Long.compareUnsigned(page, address + length - 1) <= 0; page += PAGE) {
            if (!frames.containsKey(page)) {
                throw new GuestMemoryException("guest-physical " + PagingRegisters.hex(Math.max(page, address))
                        + ": no frame there (test memory)");
            }
            if (page + PAGE == 0) {
                break;
            }
        }
    }
}
