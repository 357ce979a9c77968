package org.xenfork.vmi;

import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A guest-virtual address that does not translate. The message names the address, the
 * vCPU's paging mode and CR3, and where the walk stopped: the level and the entry (its
 * guest-physical address and value) and why. The parts are also at hand for a caller that
 * prints the walk ({@code xenfork mem translate}).
 */
public final class PageWalkException extends GuestMemoryException {
    private static final long serialVersionUID = 1L;

    /** Why a walk stopped. */
    public enum Reason {
        /** The address is outside the mode's linear address space (32-bit modes: at or above 4 GiB). */
        OUTSIDE_ADDRESS_SPACE,
        /** Long mode: the bits above bit 47 (57 with LA57) do not all copy it. The CPU raises #GP; no walk. */
        NON_CANONICAL,
        /** An entry's present bit (0) is clear: nothing is mapped there. */
        NOT_PRESENT,
        /** A present entry has a bit set that the SDM reserves (the CPU's #PF with RSVD set). */
        RESERVED_BIT,
        /** The guest-physical memory holding the entry could not be read. */
        TABLE_UNREADABLE
    }

    private final long virtualAddress;
    private final Reason reason;
    private final transient List<PagingEntry> entries;
    private final PagingLevel level;
    private final long entryAddress;
    private final Long entry;

    PageWalkException(String message, Throwable cause, long virtualAddress, Reason reason, List<PagingEntry> entries,
            PagingLevel level, long entryAddress, Long entry) {
        super(message, cause);
        this.virtualAddress = virtualAddress;
        this.reason = reason;
        this.entries = List.copyOf(entries);
        this.level = level;
        this.entryAddress = entryAddress;
        this.entry = entry;
    }

    /** The guest-virtual address that did not translate (for a range, the first page that did not). */
    public long virtualAddress() {
        return virtualAddress;
    }

    public Reason reason() {
        return reason;
    }

    /** The entries read and accepted before the one the walk stopped at, top level first. */
    public List<PagingEntry> entries() {
        return entries;
    }

    /** The level the walk stopped at; empty when it stopped before reading any entry. */
    public Optional<PagingLevel> level() {
        return Optional.ofNullable(level);
    }

    /** The guest-physical address of the entry the walk stopped at; empty when it read none. */
    public OptionalLong entryAddress() {
        return level == null ? OptionalLong.empty() : OptionalLong.of(entryAddress);
    }

    /** The value of the entry the walk stopped at; empty when it could not be read, or none was. */
    public OptionalLong entry() {
        return entry == null ? OptionalLong.empty() : OptionalLong.of(entry);
    }
}
