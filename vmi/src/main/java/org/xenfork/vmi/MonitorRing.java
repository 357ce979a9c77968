package org.xenfork.vmi;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.Linux;

/**
 * The monitor's back ring of a vm_event ring page (io/ring.h's {@code SHARED_RING_INIT},
 * {@code BACK_RING_INIT}, {@code RING_HAS_UNCONSUMED_REQUESTS}, {@code RING_GET_REQUEST},
 * {@code RING_PUSH_RESPONSES}), on a writable foreign mapping of that page, in the release's
 * layouts: {@code vm_event_sring}'s indices, {@code Abi.constRingSize("vm_event", 4096)} slots of
 * {@code sizeof(vm_event_request_t)}. Requests are decoded and responses encoded here; nothing is
 * signalled (that is {@link Monitor}'s).
 */
public final class MonitorRing {
    private final ForeignMapping page;
    private final int slots;
    private final int slotSize;
    private final int ringOffset;
    private final int headerSize;
    private final Leaf reqProd, reqEvent, rspProd, rspEvent;
    private final Leaf version, flags, reason, vcpuId, rip;
    private final Leaf bpGfn, bpInsnLength, bpType, dbGfn, dbInsnLength, dbType, dbPendingDbg;
    private final Leaf ssGfn, cpuidInsnLength, cpuidLeaf, cpuidSubleaf;
    private final long interfaceVersion;
    private final long flagVcpuPaused, flagSetRegisters, flagToggleSinglestep;
    private final Long flagResetState, flagResetMemory;
    private final int reasonBreakpoint, reasonSinglestep, reasonCpuid, reasonDebugException;
    private final Map<Integer, String> reasonNames = new TreeMap<>();
    private final String release;
    private int reqCons;
    private int rspProdPvt;

    /** A back ring over {@code page} (one writable page), in {@code abi}'s layouts; call {@link #initShared} once. */
    public MonitorRing(ForeignMapping page, Abi abi) {
        if (page == null || page.pages() != 1 || !page.writable()) {
            throw new IllegalArgumentException("a monitor ring is one writable page");
        }
        this.page = page;
        this.release = abi.release().toString();
        StructLayout sring = abi.struct("vm_event_sring");
        StructLayout req = abi.struct("vm_event_request_t");
        this.slots = abi.constRingSize("vm_event", Linux.PAGE_SIZE);
        this.slotSize = req.size();
        this.ringOffset = sring.field("ring").orElseThrow().offset();
        this.headerSize = ringOffset;
        this.reqProd = sring.leaf("req_prod");
        this.reqEvent = sring.leaf("req_event");
        this.rspProd = sring.leaf("rsp_prod");
        this.rspEvent = sring.leaf("rsp_event");
        this.version = req.leaf("version");
        this.flags = req.leaf("flags");
        this.reason = req.leaf("reason");
        this.vcpuId = req.leaf("vcpu_id");
        this.rip = req.leaf("data.regs.x86.rip");
        this.bpGfn = req.leaf("u.software_breakpoint.gfn");
        this.bpInsnLength = req.leaf("u.software_breakpoint.insn_length");
        this.bpType = req.leaf("u.software_breakpoint.type");
        this.dbGfn = req.leaf("u.debug_exception.gfn");
        this.dbInsnLength = req.leaf("u.debug_exception.insn_length");
        this.dbType = req.leaf("u.debug_exception.type");
        this.dbPendingDbg = req.leaf("u.debug_exception.pending_dbg");
        this.ssGfn = req.leaf("u.singlestep.gfn");
        this.cpuidInsnLength = req.leaf("u.cpuid.insn_length");
        this.cpuidLeaf = req.leaf("u.cpuid.leaf");
        this.cpuidSubleaf = req.leaf("u.cpuid.subleaf");
        this.interfaceVersion = abi.constant("VM_EVENT_INTERFACE_VERSION");
        this.flagVcpuPaused = abi.constant("VM_EVENT_FLAG_VCPU_PAUSED");
        this.flagSetRegisters = abi.constant("VM_EVENT_FLAG_SET_REGISTERS");
        this.flagToggleSinglestep = abi.constant("VM_EVENT_FLAG_TOGGLE_SINGLESTEP");
        this.flagResetState = abi.findConstant("VM_EVENT_FLAG_RESET_FORK_STATE").orElse(null);
        this.flagResetMemory = abi.findConstant("VM_EVENT_FLAG_RESET_FORK_MEMORY").orElse(null);
        this.reasonBreakpoint = (int) abi.constant("VM_EVENT_REASON_SOFTWARE_BREAKPOINT");
        this.reasonSinglestep = (int) abi.constant("VM_EVENT_REASON_SINGLESTEP");
        this.reasonCpuid = (int) abi.constant("VM_EVENT_REASON_CPUID");
        this.reasonDebugException = (int) abi.constant("VM_EVENT_REASON_DEBUG_EXCEPTION");
        abi.constants().forEach((name, value) -> {
            if (name.startsWith("VM_EVENT_REASON_")) {
                reasonNames.put(value.intValue(), name.substring("VM_EVENT_REASON_".length()).toLowerCase(Locale.ROOT));
            }
        });
    }

    /** {@code SHARED_RING_INIT}: producers 0, events 1, {@code pvt} and {@code __pad} zero; and the back ring's counters. */
    public void initShared() {
        byte[] header = new byte[headerSize]; // Xen waits for ENABLE's caller: nothing else writes it yet
        reqEvent.write(header, 0, 1);
        rspEvent.write(header, 0, 1);
        page.write(0, header, 0, headerSize);
        reqCons = 0;
        rspProdPvt = 0;
    }

    /** The slots of the ring: 8 in every supported release. */
    public int slots() {
        return slots;
    }

    /** {@code RING_HAS_UNCONSUMED_REQUESTS}: Xen has pushed a request not taken yet. */
    public boolean hasRequest() {
        return header(reqProd) != (reqCons & 0xffff_ffffL);
    }

    /**
     * {@code RING_GET_REQUEST} and {@code req_cons++}: the next request, decoded.
     *
     * @throws IllegalStateException if there is none, or Xen pushed more than the ring holds
     */
    public VmEventRequest take() {
        long prod = header(reqProd);
        if (prod == (reqCons & 0xffff_ffffL)) {
            throw new IllegalStateException("no request on the ring");
        }
        if (((prod - reqCons) & 0xffff_ffffL) > slots) {
            throw new IllegalStateException("the ring's req_prod " + prod + " is more than " + slots
                    + " past req_cons " + reqCons + ": the page is not a vm_event ring in this layout");
        }
        byte[] b = new byte[slotSize];
        page.read(ringOffset + (long) (reqCons & (slots - 1)) * slotSize, b, 0, slotSize);
        reqCons++;
        // Take the next request's index after this one ("RING_FINAL_CHECK_FOR_REQUESTS").
        writeHeader(reqEvent, (reqCons + 1L) & 0xffff_ffffL);
        return decode(b);
    }

    private VmEventRequest decode(byte[] b) {
        int why = (int) reason.read(b, 0);
        long gfn = -1;
        int insn = 0;
        int trapType = -1;
        long pendingDbg = 0;
        if (why == reasonBreakpoint) {
            gfn = bpGfn.read(b, 0);
            insn = (int) bpInsnLength.read(b, 0);
            trapType = (int) bpType.read(b, 0);
        } else if (why == reasonDebugException) {
            gfn = dbGfn.read(b, 0);
            insn = (int) dbInsnLength.read(b, 0);
            trapType = (int) dbType.read(b, 0);
            pendingDbg = dbPendingDbg.read(b, 0);
        } else if (why == reasonSinglestep) {
            gfn = ssGfn.read(b, 0);
        } else if (why == reasonCpuid) {
            insn = (int) cpuidInsnLength.read(b, 0);
        }
        return new VmEventRequest((int) version.read(b, 0), (int) flags.read(b, 0), why,
                reasonNames.getOrDefault(why, "reason_" + why), (int) vcpuId.read(b, 0), rip.read(b, 0), gfn, insn,
                trapType, pendingDbg,
                why == reasonCpuid ? cpuidLeaf.read(b, 0) : -1, why == reasonCpuid ? cpuidSubleaf.read(b, 0) : -1, b);
    }

    /**
     * A request as Xen would have sent for vCPU {@code vcpu} paused by an event, with no registers: what
     * a response that only resumes a vCPU whose request was lost (a monitor that died) answers.
     */
    public VmEventRequest pausedVcpu(int vcpu) {
        if (vcpu < 0) {
            throw new IllegalArgumentException("vCPU " + vcpu);
        }
        byte[] b = new byte[slotSize];
        version.write(b, 0, interfaceVersion);
        flags.write(b, 0, flagVcpuPaused);
        vcpuId.write(b, 0, vcpu);
        return decode(b);
    }

    /** Whether this release's responses can reset a fork (VM_EVENT_FLAG_RESET_FORK_*: Xen 4.17 and later). */
    public boolean hasForkResetFlags() {
        return flagResetState != null;
    }

    /**
     * Encodes {@code response} into the next response slot and pushes it ({@code RING_PUSH_RESPONSES}):
     * the request's bytes with {@code version} this release's, the VCPU_PAUSED flag echoed, and the
     * flags the response asks.
     *
     * @throws MonitorException for a fork reset on a release without the flags
     */
    public void put(VmEventResponse response) {
        if ((response.resetForkState() || response.resetForkMemory()) && flagResetState == null) {
            throw new MonitorException("Xen " + release + " has no VM_EVENT_FLAG_RESET_FORK_STATE/_MEMORY (they "
                    + "came with 4.17): reset the fork with XENMEM_sharing_op_fork_reset (xenfork fork-reset) instead");
        }
        VmEventRequest req = response.request();
        byte[] b = req.raw();
        version.write(b, 0, interfaceVersion);
        long f = req.flags() & flagVcpuPaused;
        if (response.rip().isPresent()) {
            rip.write(b, 0, response.rip().get());
            f |= flagSetRegisters;
        }
        if (response.toggleSinglestep()) {
            f |= flagToggleSinglestep;
        }
        if (response.resetForkState()) {
            f |= flagResetState;
        }
        if (response.resetForkMemory()) {
            f |= flagResetMemory;
        }
        flags.write(b, 0, f);
        page.write(ringOffset + (long) (rspProdPvt & (slots - 1)) * slotSize, b, 0, slotSize);
        rspProdPvt++;
        writeHeader(rspProd, rspProdPvt & 0xffff_ffffL);
    }

    private long header(Leaf index) {
        byte[] h = new byte[headerSize];
        page.read(0, h, 0, headerSize);
        return index.read(h, 0);
    }

    /** Writes one index's own bytes only: Xen writes the others concurrently. */
    private void writeHeader(Leaf index, long value) {
        byte[] h = new byte[headerSize];
        index.write(h, 0, value);
        page.write(index.offset(), h, index.offset(), index.size());
    }
}
