package org.xenfork.sim;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * The monitor side of Xen's vm_event: {@code XEN_DOMCTL_vm_event_op} in monitor mode
 * ({@code vm_event_domctl}, {@code vm_event_enable}, {@code vm_event_disable},
 * {@code vm_event_resume} in xen/common/vm_event.c), {@code XEN_DOMCTL_monitor_op}
 * ({@code monitor_domctl} in xen/common/monitor.c, {@code arch_monitor_domctl_event} in
 * xen/arch/x86/monitor.c, {@code arch_monitor_get_capabilities} in asm-x86/monitor.h), and what a
 * vCPU hitting a monitored int3 or CPUID makes Xen do ({@code hvm_monitor_debug},
 * {@code hvm_monitor_cpuid}, {@code monitor_traps}).
 *
 * <p>The ring is Xen's front ring on the page at {@code HVM_PARAM_MONITOR_RING_PFN}: requests are
 * written into it and {@code req_prod} pushed; responses are taken from {@code rsp_cons} to the
 * page's {@code rsp_prod} on {@code XEN_VM_EVENT_RESUME} or a notification of Xen's port. Xen's port
 * is a real one of {@link EventChannels}: {@code vm_event_enable} allocates it unbound for the
 * caller ({@code alloc_unbound_xen_event_channel} with {@code monitor_notification}, which runs
 * {@code vm_event_resume} when the monitor notifies its end), {@code vm_event_put_request} notifies
 * it ({@code notify_via_xen_event_channel}: the monitor's bound end becomes pending) and
 * {@code vm_event_disable} frees it ({@code free_xen_event_channel}: the monitor's end is left
 * unbound). {@link Ring#notifications()} counts Xen's notifications, bound or not.
 *
 * <p>Not modelled: the paging and sharing rings (their modes answer ENOSYS), altp2m, emulation
 * responses, vCPUs waiting for a free slot (a full ring is refused by the test hook instead).
 */
final class VmEventMonitor {
    /** {@code X86_EVENTTYPE_SW_EXCEPTION}: what {@code hvm_monitor_debug} reports for an int3. */
    private static final int SW_EXCEPTION = 6;
    /** {@code X86_EVENTTYPE_PRI_SW_EXCEPTION}: what {@code hvm_monitor_debug} reports for an ICEBP. */
    static final int PRI_SW_EXCEPTION = 5;
    /** {@code X86_EVENTTYPE_HW_EXCEPTION}: a #DB of the CPU's own (single-step, a debug register). */
    static final int HW_EXCEPTION = 3;
    /** {@code HVM_NR_PARAMS} (hvm/params.h): 39 from 4.14 to 4.22. */
    static final int HVM_NR_PARAMS = 39;
    /**
     * Where libxl puts the monitor ring for an HVM or PVH guest: {@code special_pfn(SPECIALPAGE_ACCESS)}
     * = 0xff000 - 8 + 1 (tools/libs/guest/xg_dom_x86.c). The simulator leaves that page unpopulated,
     * as a previous monitor's {@code XENMEM_decrease_reservation} leaves it.
     */
    static final long HVM_MONITOR_RING_GFN = 0xff000L - 8 + 1;

    private final Abi abi;
    private final DomainTable domains;
    private final DomainLifecycle lifecycle;
    private final MemSharing memSharing;
    private final HvmSaveRestore hvm;
    private final Host host;
    private final EventChannels eventChannels;
    private final int ringSlots;
    private final StructLayout sring;
    private final int ringOffset;
    private final Leaf reqProd, rspProd, rspEvent;
    private final StructLayout request;
    private final Leaf version, flags, reason, vcpuId, rip;
    private final Leaf bpGfn, bpType, bpInsnLength, cpuidInsnLength, cpuidLeaf, cpuidSubleaf, ssGfn;
    private final Leaf dbGfn, dbType, dbInsnLength, dbPendingDbg;
    private final List<Leaf[]> regPairs = new ArrayList<>(); // {request leaf, hvm_hw_cpu leaf}
    /** Test hooks: run once after the next {@link #resume} of the domain (see {@link SimXen#afterMonitorResume}). */
    private final Map<SimDomain, List<Runnable>> afterResume = new HashMap<>();
    private final long interfaceVersion;
    private final long flagVcpuPaused, flagToggleSinglestep, flagSetRegisters;
    private final Long flagResetState, flagResetMemory; // 4.17+
    private final long reasonBreakpoint, reasonCpuid, reasonSinglestep, reasonDebugException;
    private final long opEnable, opDisable, opResume, opGetVersion, modeMonitor;
    private final long monEnable, monDisable, monCaps, monEmulateEachRep, monControlRegisters;
    private final long evBreakpoint, evCpuid, evSinglestep, evGuestRequest, evWriteCtrlreg, evDebugException;
    private final long crXcr0;
    private final int capabilities; // for an HVM domain on this host
    private final Leaf veOp, veMode, vePort, veVersion, moOp, moEvent, crIndex, crPad1, crPad2, dbSync;
    private final Leaf pfNum, pfArray;
    private final long pfinfoXtab;

    /** Xen's front ring of one domain's monitor ({@code struct vm_event_domain}). */
    static final class Ring {
        final long gfn;
        final Frame frame;
        final int xenPort;
        int reqProdPvt;
        int rspCons;
        long notifications;

        Ring(long gfn, Frame frame, int xenPort) {
            this.gfn = gfn;
            this.frame = frame;
            this.xenPort = xenPort;
        }

        long notifications() {
            return notifications;
        }
    }

    VmEventMonitor(Abi abi, DomainTable domains, DomainLifecycle lifecycle, MemSharing memSharing, HvmSaveRestore hvm,
                   Host host, EventChannels eventChannels) {
        this.abi = abi;
        this.eventChannels = eventChannels;
        this.domains = domains;
        this.lifecycle = lifecycle;
        this.memSharing = memSharing;
        this.hvm = hvm;
        this.host = host;
        this.ringSlots = abi.constRingSize("vm_event", Frame.SIZE);
        this.sring = abi.struct("vm_event_sring");
        this.ringOffset = sring.field("ring").orElseThrow().offset();
        this.reqProd = sring.leaf("req_prod");
        this.rspProd = sring.leaf("rsp_prod");
        this.rspEvent = sring.leaf("rsp_event");
        this.request = abi.struct("vm_event_request_t");
        this.version = request.leaf("version");
        this.flags = request.leaf("flags");
        this.reason = request.leaf("reason");
        this.vcpuId = request.leaf("vcpu_id");
        this.rip = request.leaf("data.regs.x86.rip");
        this.bpGfn = request.leaf("u.software_breakpoint.gfn");
        this.bpType = request.leaf("u.software_breakpoint.type");
        this.bpInsnLength = request.leaf("u.software_breakpoint.insn_length");
        this.cpuidInsnLength = request.leaf("u.cpuid.insn_length");
        this.cpuidLeaf = request.leaf("u.cpuid.leaf");
        this.cpuidSubleaf = request.leaf("u.cpuid.subleaf");
        this.ssGfn = request.leaf("u.singlestep.gfn");
        this.dbGfn = request.leaf("u.debug_exception.gfn");
        this.dbType = request.leaf("u.debug_exception.type");
        this.dbInsnLength = request.leaf("u.debug_exception.insn_length");
        this.dbPendingDbg = request.leaf("u.debug_exception.pending_dbg");
        // vm_event_fill_regs and vm_event_set_registers: the registers both structs name alike.
        StructLayout cpu = hvm.cpuStruct();
        for (Leaf l : request.leaves()) {
            if (l.path().startsWith("data.regs.x86.") && !l.path().equals("data.regs.x86.rip")) {
                String name = l.path().substring("data.regs.x86.".length());
                if (!name.contains(".") && cpu.field(name).isPresent()) {
                    regPairs.add(new Leaf[] {l, cpu.leaf(name)});
                }
            }
        }
        this.interfaceVersion = abi.constant("VM_EVENT_INTERFACE_VERSION");
        this.flagVcpuPaused = abi.constant("VM_EVENT_FLAG_VCPU_PAUSED");
        this.flagToggleSinglestep = abi.constant("VM_EVENT_FLAG_TOGGLE_SINGLESTEP");
        this.flagSetRegisters = abi.constant("VM_EVENT_FLAG_SET_REGISTERS");
        this.flagResetState = abi.findConstant("VM_EVENT_FLAG_RESET_FORK_STATE").orElse(null);
        this.flagResetMemory = abi.findConstant("VM_EVENT_FLAG_RESET_FORK_MEMORY").orElse(null);
        this.reasonBreakpoint = abi.constant("VM_EVENT_REASON_SOFTWARE_BREAKPOINT");
        this.reasonCpuid = abi.constant("VM_EVENT_REASON_CPUID");
        this.reasonSinglestep = abi.constant("VM_EVENT_REASON_SINGLESTEP");
        this.reasonDebugException = abi.constant("VM_EVENT_REASON_DEBUG_EXCEPTION");
        this.opEnable = abi.constant("XEN_VM_EVENT_ENABLE");
        this.opDisable = abi.constant("XEN_VM_EVENT_DISABLE");
        this.opResume = abi.constant("XEN_VM_EVENT_RESUME");
        this.opGetVersion = abi.constant("XEN_VM_EVENT_GET_VERSION");
        this.modeMonitor = abi.constant("XEN_DOMCTL_VM_EVENT_OP_MONITOR");
        this.monEnable = abi.constant("XEN_DOMCTL_MONITOR_OP_ENABLE");
        this.monDisable = abi.constant("XEN_DOMCTL_MONITOR_OP_DISABLE");
        this.monCaps = abi.constant("XEN_DOMCTL_MONITOR_OP_GET_CAPABILITIES");
        this.monEmulateEachRep = abi.constant("XEN_DOMCTL_MONITOR_OP_EMULATE_EACH_REP");
        this.monControlRegisters = abi.constant("XEN_DOMCTL_MONITOR_OP_CONTROL_REGISTERS");
        this.evBreakpoint = abi.constant("XEN_DOMCTL_MONITOR_EVENT_SOFTWARE_BREAKPOINT");
        this.evCpuid = abi.constant("XEN_DOMCTL_MONITOR_EVENT_CPUID");
        this.evSinglestep = abi.constant("XEN_DOMCTL_MONITOR_EVENT_SINGLESTEP");
        this.evGuestRequest = abi.constant("XEN_DOMCTL_MONITOR_EVENT_GUEST_REQUEST");
        this.evWriteCtrlreg = abi.constant("XEN_DOMCTL_MONITOR_EVENT_WRITE_CTRLREG");
        this.evDebugException = abi.constant("XEN_DOMCTL_MONITOR_EVENT_DEBUG_EXCEPTION");
        this.crXcr0 = abi.constant("VM_EVENT_X86_XCR0");
        this.capabilities = hvmCapabilities(abi, host);
        StructLayout d = abi.struct("xen_domctl");
        this.veOp = d.leaf("u.vm_event_op.op");
        this.veMode = d.leaf("u.vm_event_op.mode");
        this.vePort = d.leaf("u.vm_event_op.u.enable.port");
        this.veVersion = d.leaf("u.vm_event_op.u.version");
        this.moOp = d.leaf("u.monitor_op.op");
        this.moEvent = d.leaf("u.monitor_op.event");
        this.crIndex = d.leaf("u.monitor_op.u.mov_to_cr.index");
        this.crPad1 = d.leaf("u.monitor_op.u.mov_to_cr.pad1");
        this.crPad2 = d.leaf("u.monitor_op.u.mov_to_cr.pad2");
        this.dbSync = d.leaf("u.monitor_op.u.debug_exception.sync");
        this.pfNum = d.leaf("u.getpageframeinfo3.num");
        this.pfArray = d.leaf("u.getpageframeinfo3.array");
        this.pfinfoXtab = abi.constant("XEN_DOMCTL_PFINFO_XTAB");
    }

    /**
     * {@code arch_monitor_get_capabilities} for an HVM domain: the events every x86 HVM guest has,
     * {@code VMEXIT} (4.17+) and {@code IO} (4.18+) where the release defines them, SINGLESTEP only
     * where {@code hvm_is_singlestep_supported()} (VMX's monitor trap flag: SVM has no such hook, so
     * never on AMD), and DESC_ACCESS (both VMX on this Skylake and SVM set descriptor-access exiting).
     */
    private static int hvmCapabilities(Abi abi, Host host) {
        int caps = 0;
        for (String e : List.of("WRITE_CTRLREG", "MOV_TO_MSR", "SOFTWARE_BREAKPOINT", "GUEST_REQUEST",
                "DEBUG_EXCEPTION", "CPUID", "INTERRUPT", "EMUL_UNIMPLEMENTED", "INGUEST_PAGEFAULT", "VMEXIT", "IO",
                "DESC_ACCESS")) {
            caps |= abi.findConstant("XEN_DOMCTL_MONITOR_EVENT_" + e).map(n -> 1 << n).orElse(0);
        }
        if (host.vendor() == SimXen.CpuVendor.INTEL) {
            caps |= 1 << abi.constant("XEN_DOMCTL_MONITOR_EVENT_SINGLESTEP");
        }
        return caps;
    }

    int capabilities(SimDomain d) {
        return d.hvm ? capabilities : 0;
    }

    // ---- XEN_DOMCTL_vm_event_op ----

    /**
     * {@code vm_event_domctl}: GET_VERSION for any domain (DOMID_INVALID included: {@code d} null);
     * then ESRCH without a domain, EINVAL for the caller itself, nothing for a dying domain, EINVAL
     * without vCPUs; modes other than MONITOR are not modelled (ENOSYS). Returns whether Xen copies
     * the struct back (on success).
     */
    void vmEventOp(byte[] op, SimDomain d) {
        long what = veOp.read(op, 0);
        if (what == opGetVersion) {
            veVersion.write(op, 0, interfaceVersion);
            return;
        }
        XenError.failIf(d == null, Errno.ESRCH);
        XenError.failIf(d == domains.caller(), Errno.EINVAL);
        if (!d.isAlive()) {
            return; // "Ignoring memory event op on dying domain"
        }
        XenError.failIf(d.allocatedVcpus == 0, Errno.EINVAL);
        XenError.failIf(veMode.read(op, 0) != modeMonitor, Errno.ENOSYS);
        if (what == opEnable) {
            vePort.write(op, 0, enable(d));
        } else if (what == opDisable) {
            XenError.failIf(d.monitorRing == null, Errno.EINVAL);
            disable(d);
        } else if (what == opResume) {
            XenError.failIf(d.monitorRing == null, Errno.ENODEV);
            resume(d);
        } else {
            throw new XenError(Errno.ENOSYS);
        }
    }

    /**
     * {@code vm_event_enable}: EBUSY with a ring already ("only one connected agent at a time"),
     * EOPNOTSUPP when the param is 0 (every PV domain), then {@code prepare_ring_for_helper}: ENOENT
     * for a paged-out or shared page (a fork's absent page is populated by the unsharing lookup
     * first), EINVAL where no page backs the gfn. Xen's front ring starts at the page's current
     * producer indices ({@code FRONT_RING_INIT} reads none: both private counters start at 0).
     * Then Xen's port, unbound for the caller, with {@code monitor_notification} as its
     * notification function ({@code alloc_unbound_xen_event_channel}: ENOSPC without a free port,
     * and then no ring).
     */
    private int enable(SimDomain d) {
        XenError.failIf(d.monitorRing != null, Errno.EBUSY);
        long gfn = d.hvm ? d.monitorRingGfn : 0;
        XenError.failIf(gfn == 0, Errno.EOPNOTSUPP);
        XenError.failIf(!P2m.inRange(gfn), Errno.EINVAL);
        XenError.failIf(d.p2m.isPagedOut(gfn), Errno.ENOENT);
        XenError.failIf(!memSharing.resolve(d, gfn, true), Errno.EINVAL);
        Frame f = d.p2m.frame(gfn);
        int port = eventChannels.allocUnboundXen(d, domains.caller().domid, p -> monitorNotification(d));
        f.mapped(); // Xen's own mapping of the page (map_domain_page_global) holds a reference
        d.monitorRing = new Ring(gfn, f, port);
        return port;
    }

    /**
     * {@code monitor_notification}: the monitor notified Xen's port ({@code evtchn_send} runs it on
     * the sender's thread): {@code vm_event_resume}, which does nothing without a ring (its ENODEV
     * goes nowhere).
     */
    private void monitorNotification(SimDomain d) {
        if (d.monitorRing != null) {
            resume(d);
        }
    }

    /**
     * {@code vm_event_disable} and {@code arch_monitor_cleanup_domain}: Xen's port is freed
     * ({@code free_xen_event_channel}: the monitor's end, if bound, is left unbound), the ring goes,
     * and every monitor event is switched off. vCPUs paused by an unanswered request stay paused:
     * only a response unpauses them ({@code vm_event_disable} wakes the vCPUs waiting for a slot).
     */
    void disable(SimDomain d) {
        lifecycle.pause(d);
        try {
            eventChannels.freeXen(d, d.monitorRing.xenPort);
            d.monitorRing.frame.unmapped();
            d.monitorRing = null;
            d.monitorEvents = 0;
            d.singlestep.clear();
        } finally {
            lifecycle.unpause(d);
        }
    }

    /**
     * {@code vm_event_resume}: every response from {@code rsp_cons} to the page's {@code rsp_prod}.
     * A response of another {@code VM_EVENT_INTERFACE_VERSION} is dropped ("interface version
     * mismatch"), so is one for a vCPU the domain lacks. While the vCPU is paused by an event
     * ({@code vm_event_pause_count}): TOGGLE_SINGLESTEP, SET_REGISTERS, then (4.17+, a fork only) the
     * fork reset the RESET_FORK flags ask ({@code mem_sharing_fork_reset}), then, with
     * {@code VM_EVENT_FLAG_VCPU_PAUSED}, the vCPU is unpaused. A response for a vCPU that waits for
     * nothing does nothing.
     */
    void resume(SimDomain d) {
        Ring r = d.monitorRing;
        byte[] page = new byte[Frame.SIZE];
        r.frame.read(0, page, 0, Frame.SIZE);
        int prod = (int) rspProd.read(page, 0);
        while (r.rspCons != prod) {
            int base = ringOffset + (r.rspCons & (ringSlots - 1)) * request.size();
            byte[] rsp = java.util.Arrays.copyOfRange(page, base, base + request.size());
            r.rspCons++;
            answer(d, rsp);
        }
        writeHeader(r, rspEvent, (r.rspCons + 1L) & 0xffff_ffffL); // RING_FINAL_CHECK_FOR_RESPONSES
        List<Runnable> hooks = afterResume.remove(d);
        if (hooks != null) {
            hooks.forEach(Runnable::run);
        }
    }

    /** {@code action} runs once, at the end of the next {@link #resume} of {@code d}. */
    void afterResume(SimDomain d, Runnable action) {
        afterResume.computeIfAbsent(d, x -> new ArrayList<>()).add(action);
    }

    private void answer(SimDomain d, byte[] rsp) {
        if (version.read(rsp, 0) != interfaceVersion) {
            return;
        }
        long vcpu = vcpuId.read(rsp, 0);
        if (vcpu >= d.allocatedVcpus) {
            return;
        }
        int v = (int) vcpu;
        long f = flags.read(rsp, 0);
        if (!d.vmEventPaused.get(v)) {
            return; // "Check flags which apply only when the vCPU is paused"
        }
        if ((f & flagToggleSinglestep) != 0) {
            d.singlestep.flip(v);
        }
        if ((f & flagSetRegisters) != 0) {
            byte[] cpu = hvm.cpuRecord(d, v);
            if (cpu != null) {
                for (Leaf[] p : regPairs) {
                    p[1].write(cpu, 0, p[0].read(rsp, 0));
                }
                hvm.cpuStruct().leaf("rip").write(cpu, 0, rip.read(rsp, 0));
            }
        }
        if (flagResetState != null && d.parent != null) {
            boolean state = (f & flagResetState) != 0;
            boolean memory = (f & flagResetMemory) != 0;
            if (state || memory) {
                memSharing.reset(d, state, memory);
            }
        }
        if ((f & flagVcpuPaused) != 0) {
            d.vmEventPaused.clear(v);
        }
    }

    // ---- XEN_DOMCTL_monitor_op ----

    /**
     * {@code monitor_domctl}: EPERM for the caller's own domain; ENABLE/DISABLE: EINVAL for an event
     * past 31, EOPNOTSUPP for one the capabilities lack, EEXIST for one already in that state
     * (WRITE_CTRLREG: per register, EINVAL past XCR0 or for non-zero pads, before EEXIST); GET_CAPABILITIES; the arch ops
     * EMULATE_EACH_REP and CONTROL_REGISTERS are accepted; any other op is EOPNOTSUPP.
     */
    void monitorOp(byte[] op, SimDomain d) {
        XenError.failIf(d == domains.caller(), Errno.EPERM);
        long what = moOp.read(op, 0);
        if (what == monCaps) {
            moEvent.write(op, 0, capabilities(d));
            return;
        }
        if (what == monEmulateEachRep || what == monControlRegisters) {
            return;
        }
        XenError.failIf(what != monEnable && what != monDisable, Errno.EOPNOTSUPP);
        long event = moEvent.read(op, 0);
        XenError.failIf(event > 31, Errno.EINVAL);
        XenError.failIf((capabilities(d) & (1 << event)) == 0, Errno.EOPNOTSUPP);
        boolean on = what == monEnable;
        int bit = 1 << event;
        if (event == evWriteCtrlreg) {
            long index = crIndex.read(op, 0);
            XenError.failIf(index > crXcr0, Errno.EINVAL); // past write_ctrlreg_mask[]
            XenError.failIf(crPad1.read(op, 0) != 0 || crPad2.read(op, 0) != 0, Errno.EINVAL);
            bit = 1 << (24 + index); // one state per register; bits 24..27 are free of events
        }
        XenError.failIf(((d.monitorEvents & bit) != 0) == on, Errno.EEXIST);
        lifecycle.pause(d);
        d.monitorEvents = on ? d.monitorEvents | bit : d.monitorEvents & ~bit;
        if (event == evDebugException) {
            d.debugExceptionSync = on && dbSync.read(op, 0) != 0;
        }
        lifecycle.unpause(d);
    }

    // ---- XEN_DOMCTL_getpageframeinfo3 ----

    /**
     * arch_do_domctl's getpageframeinfo3 for an HVM domain: each entry of the array is replaced by
     * its type, {@code XEN_DOMCTL_PFINFO_XTAB} where no page is (0: an ordinary page). E2BIG past
     * 1024 entries.
     */
    void pageFrameInfo(GuestMemory mem, byte[] op, SimDomain d) {
        long num = pfNum.read(op, 0);
        XenError.failIf(num > 1024, Errno.E2BIG);
        long array = pfArray.read(op, 0);
        for (int i = 0; i < num; i++) {
            byte[] e = mem.copyFromGuest(array + 8L * i, 8);
            long gfn = java.nio.ByteBuffer.wrap(e).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            boolean present = P2m.inRange(gfn) && !d.p2m.isPagedOut(gfn) && backed(d, gfn);
            long type = present ? 0 : pfinfoXtab;
            mem.copyToGuest(array + 8L * i, java.nio.ByteBuffer.allocate(8)
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(type).array());
        }
    }

    private boolean backed(SimDomain d, long gfn) {
        try {
            memSharing.requireBacked(d, gfn);
            return true;
        } catch (IllegalArgumentException | IllegalStateException absent) {
            return false;
        }
    }

    // ---- a vCPU meets an event ----

    /** What the vCPU's trap came to. */
    enum Outcome { SENT, NOT_MONITORED }

    /**
     * {@code hvm_monitor_debug(rip, HVM_MONITOR_SOFTWARE_BREAKPOINT, X86_EVENTTYPE_SW_EXCEPTION, 1)}
     * then {@code monitor_traps(v, sync, req)}: with the event on and a ring, a synchronous request
     * (the vCPU paused, {@code VM_EVENT_FLAG_VCPU_PAUSED}) and a notification of Xen's port.
     */
    Outcome breakpoint(SimDomain d, int vcpu, long ripValue, long gpa) {
        if ((d.monitorEvents & (1 << evBreakpoint)) == 0 || d.monitorRing == null) {
            return Outcome.NOT_MONITORED;
        }
        byte[] req = newRequest(d, vcpu, reasonBreakpoint, ripValue);
        bpGfn.write(req, 0, gpa / Frame.SIZE);
        bpType.write(req, 0, SW_EXCEPTION);
        bpInsnLength.write(req, 0, 1);
        put(d, vcpu, req, true);
        return Outcome.SENT;
    }

    /**
     * {@code hvm_monitor_debug(rip, HVM_MONITOR_DEBUG_EXCEPTION, type, insn_length, pending_dbg)} then
     * {@code monitor_traps(v, debug_exception_sync, req)}: an ICEBP ({@link #PRI_SW_EXCEPTION}, length
     * 1; SVM's VMEXIT_ICEBP, VT-x's #DB exit) or a #DB of the CPU's own ({@link #HW_EXCEPTION}, length
     * 0). With the event on and a ring, a request goes on the ring; synchronous, the vCPU waits
     * ({@link Outcome#SENT}); asynchronous, it does not, and the guest takes its #DB as when nobody
     * watches ({@link Outcome#NOT_MONITORED}: Xen's {@code hvm_inject_exception} after rc 0).
     */
    Outcome debugException(SimDomain d, int vcpu, long ripValue, long gpa, int type, int insnLength, long pendingDbg) {
        if ((d.monitorEvents & (1 << evDebugException)) == 0 || d.monitorRing == null) {
            return Outcome.NOT_MONITORED;
        }
        byte[] req = newRequest(d, vcpu, reasonDebugException, ripValue);
        dbGfn.write(req, 0, gpa / Frame.SIZE);
        dbType.write(req, 0, type);
        dbInsnLength.write(req, 0, insnLength);
        dbPendingDbg.write(req, 0, pendingDbg);
        if (!d.debugExceptionSync) {
            flags.write(req, 0, 0);
            put(d, vcpu, req, false);
            return Outcome.NOT_MONITORED;
        }
        put(d, vcpu, req, true);
        return Outcome.SENT;
    }

    /** {@code hvm_monitor_cpuid(inst_len, leaf, subleaf)}: a synchronous request when CPUID is monitored. */
    Outcome cpuid(SimDomain d, int vcpu, long ripValue, int leaf, int subleaf) {
        if ((d.monitorEvents & (1 << evCpuid)) == 0 || d.monitorRing == null) {
            return Outcome.NOT_MONITORED;
        }
        byte[] req = newRequest(d, vcpu, reasonCpuid, ripValue);
        cpuidInsnLength.write(req, 0, 2);
        cpuidLeaf.write(req, 0, leaf & 0xffff_ffffL);
        cpuidSubleaf.write(req, 0, subleaf & 0xffff_ffffL);
        put(d, vcpu, req, true);
        return Outcome.SENT;
    }

    /**
     * {@code hvm_monitor_check_p2m}/the single-step trap of a vCPU with single-stepping on:
     * SINGLESTEP must be monitored too ({@code hvm_monitor_debug}, HVM_MONITOR_SINGLESTEP_BREAKPOINT).
     */
    Outcome singlestep(SimDomain d, int vcpu, long ripValue, long gpa) {
        if (!d.singlestep.get(vcpu) || (d.monitorEvents & (1 << evSinglestep)) == 0 || d.monitorRing == null) {
            return Outcome.NOT_MONITORED;
        }
        byte[] req = newRequest(d, vcpu, reasonSinglestep, ripValue);
        ssGfn.write(req, 0, gpa / Frame.SIZE);
        put(d, vcpu, req, true);
        return Outcome.SENT;
    }

    private byte[] newRequest(SimDomain d, int vcpu, long why, long ripValue) {
        byte[] req = new byte[request.size()];
        version.write(req, 0, interfaceVersion);
        flags.write(req, 0, flagVcpuPaused);
        reason.write(req, 0, why);
        vcpuId.write(req, 0, vcpu);
        byte[] cpu = hvm.cpuRecord(d, vcpu);
        if (cpu != null) {
            for (Leaf[] p : regPairs) {
                p[0].write(req, 0, p[1].read(cpu, 0));
            }
        }
        rip.write(req, 0, ripValue);
        return req;
    }

    /**
     * {@code monitor_traps}: a synchronous request pauses the vCPU first ({@code VM_EVENT_FLAG_VCPU_PAUSED}),
     * then {@code vm_event_put_request} and {@code notify_via_xen_event_channel}.
     */
    private void put(SimDomain d, int vcpu, byte[] req, boolean sync) {
        Ring r = d.monitorRing;
        if (r.reqProdPvt - r.rspCons >= ringSlots) {
            throw new IllegalStateException("d" + d.domid + "'s monitor ring is full: vCPU " + vcpu
                    + " would wait for a slot (vm_event_wait_slot)");
        }
        if (sync) {
            d.vmEventPaused.set(vcpu);
        }
        int base = ringOffset + (r.reqProdPvt & (ringSlots - 1)) * request.size();
        r.frame.write(base, req, 0, req.length);
        r.reqProdPvt++;
        writeHeader(r, reqProd, r.reqProdPvt & 0xffff_ffffL); // RING_PUSH_REQUESTS
        r.notifications++;
        eventChannels.notifyViaXen(d, r.xenPort);
    }

    /** One index of the shared header ({@code vm_event_sring} up to {@code ring}), written into the page. */
    private void writeHeader(Ring r, Leaf index, long value) {
        byte[] header = new byte[ringOffset];
        r.frame.read(0, header, 0, ringOffset);
        index.write(header, 0, value);
        r.frame.write(0, header, 0, ringOffset);
    }
}
