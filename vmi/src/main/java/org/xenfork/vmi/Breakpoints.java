package org.xenfork.vmi;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Software breakpoints in a guest's memory: an int3 (0xCC) written at a guest-physical address,
 * the original byte kept to put back. Each insertion is first told to the {@link Journal} (a record
 * on disk that outlives a crash, see {@code xenfork monitor --cleanup}), then written; each removal
 * is written, then told.
 *
 * <pre>{@code
 * Breakpoints bps = new Breakpoints(new GuestMemory(new MappedPhysicalMemory(foreign, domid)), Breakpoints.Journal.NONE);
 * bps.insert(0x100000);
 * ...
 * bps.removeAll();
 * }</pre>
 */
public final class Breakpoints {
    /** The int3 opcode. */
    public static final byte INT3 = (byte) 0xcc;
    /** Breakpoints one set may hold. */
    public static final int MAX = 256;

    /** Where insertions are recorded before they happen and removals after. */
    public interface Journal {
        Journal NONE = new Journal() {
            @Override
            public void inserting(long address, byte original) {
            }

            @Override
            public void removed(long address) {
            }
        };

        /** Called before the int3 at {@code address} is written; a failure stops the insertion. */
        void inserting(long address, byte original) throws GuestMemoryException;

        /** Called after the original byte at {@code address} is back. */
        void removed(long address) throws GuestMemoryException;
    }

    private final GuestMemory memory;
    private final Journal journal;
    private final Map<Long, Byte> originals = new LinkedHashMap<>();

    public Breakpoints(GuestMemory memory, Journal journal) {
        if (memory == null || journal == null) {
            throw new IllegalArgumentException("breakpoints need guest memory and a journal");
        }
        this.memory = memory;
        this.journal = journal;
    }

    /**
     * Saves the byte at guest-physical {@code address}, records it, and writes an int3 there.
     *
     * @throws GuestMemoryException if the address is not backed (nothing recorded or written then)
     * @throws IllegalArgumentException if a breakpoint is there already, or {@link #MAX} are set
     */
    public void insert(long address) throws GuestMemoryException {
        if (originals.containsKey(address)) {
            throw new IllegalArgumentException("a breakpoint is already set at 0x" + Long.toHexString(address));
        }
        if (originals.size() >= MAX) {
            throw new IllegalArgumentException("at most " + MAX + " breakpoints");
        }
        byte original = memory.readPhysical(address, 1)[0];
        journal.inserting(address, original);
        originals.put(address, original);
        memory.writePhysical(address, new byte[] {INT3}, 0, 1);
    }

    /** Puts the original byte back at {@code address} and forgets the breakpoint. */
    public void remove(long address) throws GuestMemoryException {
        Byte original = originals.get(address);
        if (original == null) {
            throw new IllegalArgumentException("no breakpoint at 0x" + Long.toHexString(address));
        }
        memory.writePhysical(address, new byte[] {original}, 0, 1);
        originals.remove(address);
        journal.removed(address);
    }

    /** Puts the int3 back at an address whose breakpoint was lifted with {@link #lift} (single-stepping over it). */
    public void reinsert(long address) throws GuestMemoryException {
        if (!originals.containsKey(address)) {
            throw new IllegalArgumentException("no breakpoint at 0x" + Long.toHexString(address));
        }
        memory.writePhysical(address, new byte[] {INT3}, 0, 1);
    }

    /** Puts the original byte back at {@code address} but keeps the breakpoint (and its record) for {@link #reinsert}. */
    public void lift(long address) throws GuestMemoryException {
        Byte original = originals.get(address);
        if (original == null) {
            throw new IllegalArgumentException("no breakpoint at 0x" + Long.toHexString(address));
        }
        memory.writePhysical(address, new byte[] {original}, 0, 1);
    }

    /**
     * Removes every breakpoint, each attempted even if one fails; the first failure is thrown at the
     * end (the others suppressed), and the breakpoints that failed stay in the set and the journal.
     */
    public void removeAll() throws GuestMemoryException {
        List<GuestMemoryException> failures = new ArrayList<>();
        for (Long a : List.copyOf(originals.keySet())) {
            try {
                remove(a);
            } catch (GuestMemoryException e) {
                failures.add(e);
            }
        }
        if (!failures.isEmpty()) {
            GuestMemoryException first = failures.get(0);
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw first;
        }
    }

    /** Whether a breakpoint is set at {@code address}. */
    public boolean contains(long address) {
        return originals.containsKey(address);
    }

    /** The breakpoints set, address to original byte, in insertion order. */
    public Map<Long, Byte> originals() {
        return Collections.unmodifiableMap(new LinkedHashMap<>(originals));
    }
}
