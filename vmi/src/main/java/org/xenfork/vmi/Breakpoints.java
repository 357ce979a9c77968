package org.xenfork.vmi;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.VmEventHypercalls.MonitorEvent;

/**
 * Breakpoints in a guest's memory: a one-byte trapping instruction ({@link Instruction}) written at a
 * guest-physical address, the original byte kept to put back. Each insertion is first told to the
 * {@link Journal} (a record on disk that outlives a crash, see {@code xenfork monitor --cleanup}),
 * then written; each removal is written, then told.
 *
 * <pre>{@code
 * GuestMemory memory = new GuestMemory(new MappedPhysicalMemory(foreign, domid));
 * Breakpoints bps = new Breakpoints(memory, Breakpoints.Instruction.ICEBP, Breakpoints.Journal.NONE);
 * monitor.monitor(bps.instruction().event(), true);
 * bps.insert(0x100000);
 * ...
 * bps.removeAll();
 * }</pre>
 */
public final class Breakpoints {
    /** Breakpoints one set may hold. */
    public static final int MAX = 256;
    /** {@code X86_EVENTTYPE_PRI_SW_EXCEPTION}: the type Xen reports for the #DB of an ICEBP. */
    private static final int PRI_SW_EXCEPTION = 5;

    /**
     * The instruction a breakpoint is, and the monitor event that reports it. Both are one byte, so
     * either fits over the first byte of any instruction; the vCPU stops before executing it, with
     * {@code rip} at the breakpoint.
     */
    public enum Instruction {
        /**
         * {@code int3} (0xCC): a #BP, reported as {@code VM_EVENT_REASON_SOFTWARE_BREAKPOINT}
         * ({@code hvm_monitor_debug}, HVM_MONITOR_SOFTWARE_BREAKPOINT). What debuggers, xen-access
         * and KF/x use; a guest that uses int3 itself (Linux's text patching, kprobes) has its own
         * hits reported too, and gets them back re-injected.
         */
        INT3((byte) 0xcc, MonitorEvent.SOFTWARE_BREAKPOINT),
        /**
         * {@code icebp}, also {@code int1} (0xF1): a #DB, reported as
         * {@code VM_EVENT_REASON_DEBUG_EXCEPTION} of type {@code X86_EVENTTYPE_PRI_SW_EXCEPTION}.
         * Xen intercepts it on VT-x (#DB is always intercepted) and on SVM (the ICEBP intercept is
         * always set), and guests hardly use it. Needed where int3 does not reach the monitor: QEMU's
         * emulated SVM (TCG) checks an int3 against the INTn intercept only, never the #BP
         * exception intercept Xen sets, so under it an int3 goes to the guest.
         */
        ICEBP((byte) 0xf1, MonitorEvent.DEBUG_EXCEPTION);

        private final byte opcode;
        private final MonitorEvent event;

        Instruction(byte opcode, MonitorEvent event) {
            this.opcode = opcode;
            this.event = event;
        }

        /** The byte written at a breakpoint. */
        public byte opcode() {
            return opcode;
        }

        /** The monitor event that reports a hit. */
        public MonitorEvent event() {
            return event;
        }
    }

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

        /** Called before the breakpoint at {@code address} is written; a failure stops the insertion. */
        void inserting(long address, byte original) throws GuestMemoryException;

        /** Called after the original byte at {@code address} is back. */
        void removed(long address) throws GuestMemoryException;
    }

    private final GuestMemory memory;
    private final Instruction instruction;
    private final Journal journal;
    private final Map<Long, Byte> originals = new LinkedHashMap<>();

    public Breakpoints(GuestMemory memory, Instruction instruction, Journal journal) {
        if (memory == null || instruction == null || journal == null) {
            throw new IllegalArgumentException("breakpoints need guest memory, an instruction and a journal");
        }
        this.memory = memory;
        this.instruction = instruction;
        this.journal = journal;
    }

    /** The instruction these breakpoints are. */
    public Instruction instruction() {
        return instruction;
    }

    /**
     * Saves the byte at guest-physical {@code address}, records it, and writes the breakpoint instruction there.
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
        memory.writePhysical(address, new byte[] {instruction.opcode}, 0, 1);
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

    /** Puts the breakpoint back at an address whose breakpoint was lifted with {@link #lift} (single-stepping over it). */
    public void reinsert(long address) throws GuestMemoryException {
        if (!originals.containsKey(address)) {
            throw new IllegalArgumentException("no breakpoint at 0x" + Long.toHexString(address));
        }
        memory.writePhysical(address, new byte[] {instruction.opcode}, 0, 1);
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

    /**
     * Whether {@code request} is a hit of one of these breakpoints: the event their instruction
     * raises, at one of their addresses, and for an ICEBP of type {@code X86_EVENTTYPE_PRI_SW_EXCEPTION}
     * (a #DB of the CPU's own at the same address, from the guest's debug registers, is the guest's).
     * Anything else of those reasons is the guest's own: {@link Monitor#reinject} it.
     */
    public boolean isHit(VmEventRequest request) {
        String reason = instruction == Instruction.ICEBP ? "debug_exception" : "software_breakpoint";
        return request.reasonName().equals(reason) && originals.containsKey(address(request))
                && (instruction != Instruction.ICEBP || request.trapType() == PRI_SW_EXCEPTION);
    }

    /** The guest-physical address of a breakpoint or debug-exception request: its gfn's page, rip's offset. */
    public static long address(VmEventRequest request) {
        if (request.gfn() < 0) {
            throw new IllegalArgumentException("a " + request.reasonName() + " request names no gfn");
        }
        return request.gfn() * Linux.PAGE_SIZE + (request.rip() & (Linux.PAGE_SIZE - 1));
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
