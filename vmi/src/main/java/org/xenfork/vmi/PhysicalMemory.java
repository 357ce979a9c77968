package org.xenfork.vmi;

/**
 * A domain's guest-physical address space, byte-addressed. A read or write may cross page
 * boundaries; it either moves every byte or throws, naming the first address it could not reach.
 */
public interface PhysicalMemory {

    /** Copies {@code length} bytes at guest-physical {@code address} into {@code dst}. */
    void read(long address, byte[] dst, int offset, int length) throws GuestMemoryException;

    /** Copies {@code length} bytes of {@code src} to guest-physical {@code address}. */
    void write(long address, byte[] src, int offset, int length) throws GuestMemoryException;
}
