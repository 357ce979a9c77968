package org.xenfork.privcmd;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;

/**
 * The typed hypercalls a vm_event monitor makes (what libxc's {@code xc_monitor_*},
 * {@code xc_vm_event_*} and libxendevicemodel's {@code xendevicemodel_inject_event} issue), one
 * method per hypercall or domctl, each named in its doc. Structs come from the release's layouts
 * like every other call; errors are {@link XenException}s naming the call, the domain and the errno.
 *
 * <p>A class beside {@link Hypervisor} rather than in it: Hypervisor holds the fork workflow's
 * calls and is already large, and these calls have their own structs ({@code xen_hvm_param},
 * {@code xen_memory_reservation}, {@code xen_dm_op}) and buffers. They go through Hypervisor's one
 * issuing path, so the trace and {@code --dry-run} see them as they see every other call.
 *
 * <pre>{@code
 * try (VmEventHypercalls vm = VmEventHypercalls.open(xen)) {
 *     int caps = vm.monitorCapabilities(domid);
 *     long ringGfn = vm.hvmParam(domid, HVM_PARAM_MONITOR_RING_PFN);
 *     int port = vm.monitorEnable(domid);            // after mapping the ring page
 *     vm.monitorEvent(domid, MonitorEvent.SOFTWARE_BREAKPOINT, true);
 * }
 * }</pre>
 *
 * Not thread-safe, like {@link Hypervisor}.
 */
public final class VmEventHypercalls implements AutoCloseable {

    /** The {@code XEN_DOMCTL_MONITOR_EVENT_*} a monitor here can switch on, by Xen's name. */
    public enum MonitorEvent {
        WRITE_CTRLREG, SOFTWARE_BREAKPOINT, GUEST_REQUEST, SINGLESTEP, DEBUG_EXCEPTION, CPUID;

        /** {@code XEN_DOMCTL_MONITOR_EVENT_<name>}. */
        public String xenName() {
            return "XEN_DOMCTL_MONITOR_EVENT_" + name();
        }
    }

    private final Hypervisor xen;
    private final Abi abi;
    private final long hDomctl;
    private final long hHvmOp;
    private final long hMemoryOp;
    private final long hDmOp;
    private final long domctlVersion;
    private final StructCall domctl;
    private final Leaf cmd, version, domain;
    private final Leaf veOp, veMode, vePort, veVersion;
    private final Leaf moOp, moEvent, crIndex, crSync, crOnchange, crBitmask, grSync, grUserspace, dbSync;
    private final Leaf pfNum, pfArray;
    private final StructCall param;
    private final Leaf pDomid, pIndex, pValue;
    private final StructCall reservation;
    private final Leaf rExtentStart, rNrExtents, rOrder, rFlags, rDomid;
    private final StructCall dmOp;
    private final Leaf dOp, iVcpu, iVector, iType, iInsnLen, iErrorCode, iCr2;
    private final StructCall dmBuf;
    private final Leaf bHandle, bSize;
    private final HypercallBuffer frames; // one xen_pfn_t for getpageframeinfo3 and the reservations

    private VmEventHypercalls(Hypervisor xen) throws NativeException {
        this.xen = xen;
        this.abi = xen.abi();
        HypercallBuffers pool = xen.privcmd().buffers();
        hDomctl = abi.constant("__HYPERVISOR_domctl");
        hHvmOp = abi.constant("__HYPERVISOR_hvm_op");
        hMemoryOp = abi.constant("__HYPERVISOR_memory_op");
        hDmOp = abi.constant("__HYPERVISOR_dm_op");
        domctlVersion = abi.constant("XEN_DOMCTL_INTERFACE_VERSION");
        domctl = new StructCall(abi.struct("xen_domctl"), pool);
        StructLayout d = domctl.layout;
        cmd = d.leaf("cmd");
        version = d.leaf("interface_version");
        domain = d.leaf("domain");
        veOp = d.leaf("u.vm_event_op.op");
        veMode = d.leaf("u.vm_event_op.mode");
        vePort = d.leaf("u.vm_event_op.u.enable.port");
        veVersion = d.leaf("u.vm_event_op.u.version");
        moOp = d.leaf("u.monitor_op.op");
        moEvent = d.leaf("u.monitor_op.event");
        crIndex = d.leaf("u.monitor_op.u.mov_to_cr.index");
        crSync = d.leaf("u.monitor_op.u.mov_to_cr.sync");
        crOnchange = d.leaf("u.monitor_op.u.mov_to_cr.onchangeonly");
        crBitmask = d.leaf("u.monitor_op.u.mov_to_cr.bitmask");
        grSync = d.leaf("u.monitor_op.u.guest_request.sync");
        grUserspace = d.leaf("u.monitor_op.u.guest_request.allow_userspace");
        dbSync = d.leaf("u.monitor_op.u.debug_exception.sync");
        pfNum = d.leaf("u.getpageframeinfo3.num");
        pfArray = d.leaf("u.getpageframeinfo3.array");
        param = new StructCall(abi.struct("xen_hvm_param"), pool);
        pDomid = param.layout.leaf("domid");
        pIndex = param.layout.leaf("index");
        pValue = param.layout.leaf("value");
        reservation = new StructCall(abi.struct("xen_memory_reservation"), pool);
        rExtentStart = reservation.layout.leaf("extent_start");
        rNrExtents = reservation.layout.leaf("nr_extents");
        rOrder = reservation.layout.leaf("extent_order");
        rFlags = reservation.layout.leaf("mem_flags");
        rDomid = reservation.layout.leaf("domid");
        dmOp = new StructCall(abi.struct("xen_dm_op"), pool);
        dOp = dmOp.layout.leaf("op");
        iVcpu = dmOp.layout.leaf("u.inject_event.vcpuid");
        iVector = dmOp.layout.leaf("u.inject_event.vector");
        iType = dmOp.layout.leaf("u.inject_event.type");
        iInsnLen = dmOp.layout.leaf("u.inject_event.insn_len");
        iErrorCode = dmOp.layout.leaf("u.inject_event.error_code");
        iCr2 = dmOp.layout.leaf("u.inject_event.cr2");
        dmBuf = new StructCall(abi.struct("xen_dm_op_buf"), pool);
        bHandle = dmBuf.layout.leaf("h");
        bSize = dmBuf.layout.leaf("size");
        frames = pool.acquire(8);
    }

    /** The vm_event hypercalls over {@code xen}'s privcmd fd, in its release's ABI. */
    public static VmEventHypercalls open(Hypervisor xen) {
        try {
            return new VmEventHypercalls(xen);
        } catch (NativeException e) {
            throw new XenEnvironmentException("cannot map hypercall buffers: " + e.getMessage());
        }
    }

    public Abi abi() {
        return abi;
    }

    // ---- XEN_DOMCTL_vm_event_op ----

    /**
     * {@code XEN_DOMCTL_vm_event_op(XEN_VM_EVENT_ENABLE, XEN_DOMCTL_VM_EVENT_OP_MONITOR)}: Xen takes
     * the page at the domain's {@code HVM_PARAM_MONITOR_RING_PFN} as its monitor ring and opens an
     * unbound event channel for the caller's domain. Errors: EBUSY (a ring is enabled already),
     * EOPNOTSUPP (no ring page in the param), EINVAL (the domain is the caller or has no vCPU, or
     * the ring gfn is not a writable page), ENOENT (the ring page is paged out or shared).
     *
     * @return Xen's port of that event channel, to bind interdomain
     */
    public int monitorEnable(int domid) {
        beginVmEvent(domid, "XEN_VM_EVENT_ENABLE");
        issueDomctl("XEN_DOMCTL_vm_event_op", domid);
        return (int) domctl.get(vePort);
    }

    /**
     * {@code open(/dev/xen/evtchn)} ({@code xenevtchn_open}) on the seam of this Hypervisor's privcmd:
     * the handle a monitor binds the port of {@link #monitorEnable} through, waits on and notifies
     * Xen with. Here so that a monitor needs no seam of its own; the caller closes it.
     *
     * @throws XenEnvironmentException when the device is missing (not a dom0, or the driver is not
     *         loaded) or the caller is not root
     */
    public Evtchn openEvtchn() {
        return Evtchn.open(xen.privcmd().seam());
    }

    /**
     * {@code XEN_DOMCTL_vm_event_op(XEN_VM_EVENT_DISABLE, MONITOR)}: Xen drops its ring and frees its
     * event channel (a bound monitor end is left unbound). vCPUs paused by unanswered requests stay
     * paused ({@code vm_event_disable} unpauses only those waiting for a free slot). EINVAL when no
     * ring is enabled.
     */
    public void monitorDisable(int domid) {
        beginVmEvent(domid, "XEN_VM_EVENT_DISABLE");
        issueDomctl("XEN_DOMCTL_vm_event_op", domid);
    }

    /**
     * {@code XEN_DOMCTL_vm_event_op(XEN_VM_EVENT_RESUME, MONITOR)}: Xen takes the responses on the
     * ring now, as it does on a notification of its event channel. ENODEV when no ring is enabled.
     */
    public void monitorResume(int domid) {
        beginVmEvent(domid, "XEN_VM_EVENT_RESUME");
        issueDomctl("XEN_DOMCTL_vm_event_op", domid);
    }

    /**
     * {@code XEN_DOMCTL_vm_event_op(XEN_VM_EVENT_GET_VERSION)} for {@code DOMID_INVALID}, as libxc
     * asks it: the hypervisor's {@code VM_EVENT_INTERFACE_VERSION}.
     */
    public int vmEventInterfaceVersion() {
        int invalid = (int) abi.constant("DOMID_INVALID");
        beginDomctl("XEN_DOMCTL_vm_event_op", invalid);
        domctl.set(veOp, abi.constant("XEN_VM_EVENT_GET_VERSION"));
        domctl.set(veMode, abi.constant("XEN_DOMCTL_VM_EVENT_OP_MONITOR"));
        xen.issue(domctl, hDomctl, "XEN_DOMCTL_vm_event_op", invalid, false, domctl.address(), 0, 0);
        return (int) domctl.get(veVersion);
    }

    private void beginVmEvent(int domid, String op) {
        Hypervisor.checkDomid("XEN_DOMCTL_vm_event_op", domid);
        beginDomctl("XEN_DOMCTL_vm_event_op", domid);
        domctl.set(veOp, abi.constant(op));
        domctl.set(veMode, abi.constant("XEN_DOMCTL_VM_EVENT_OP_MONITOR"));
    }

    // ---- XEN_DOMCTL_monitor_op ----

    /**
     * {@code XEN_DOMCTL_monitor_op(XEN_DOMCTL_MONITOR_OP_GET_CAPABILITIES)}: a bitmap of
     * {@code 1 << XEN_DOMCTL_MONITOR_EVENT_*} the hypervisor offers for this domain (0 for PV).
     */
    public int monitorCapabilities(int domid) {
        beginMonitor(domid, "XEN_DOMCTL_MONITOR_OP_GET_CAPABILITIES", 0);
        issueDomctl("XEN_DOMCTL_monitor_op", domid);
        return (int) domctl.get(moEvent);
    }

    /** Whether {@link #monitorCapabilities} {@code caps} has {@code event}. */
    public boolean offers(int caps, MonitorEvent event) {
        return (caps & (1 << abi.constant(event.xenName()))) != 0;
    }

    /**
     * {@code XEN_DOMCTL_monitor_op(XEN_DOMCTL_MONITOR_OP_ENABLE | _DISABLE, event)} for
     * {@link MonitorEvent#SOFTWARE_BREAKPOINT}, {@link MonitorEvent#CPUID} and
     * {@link MonitorEvent#SINGLESTEP} (the others take parameters: {@link #monitorGuestRequest},
     * {@link #monitorWriteCtrlreg}, {@link #monitorDebugException}). Errors: EOPNOTSUPP (not offered
     * for this domain), EEXIST (already in that state), EPERM (the caller's own domain).
     */
    public void monitorEvent(int domid, MonitorEvent event, boolean enable) {
        if (event == MonitorEvent.GUEST_REQUEST || event == MonitorEvent.WRITE_CTRLREG
                || event == MonitorEvent.DEBUG_EXCEPTION) {
            throw new IllegalArgumentException(event.xenName() + " takes parameters: use monitor" + switch (event) {
                case GUEST_REQUEST -> "GuestRequest";
                case WRITE_CTRLREG -> "WriteCtrlreg";
                default -> "DebugException";
            });
        }
        beginMonitor(domid, enable ? "XEN_DOMCTL_MONITOR_OP_ENABLE" : "XEN_DOMCTL_MONITOR_OP_DISABLE",
                abi.constant(event.xenName()));
        issueDomctl("XEN_DOMCTL_monitor_op", domid);
    }

    /**
     * {@code XEN_DOMCTL_monitor_op(ENABLE | DISABLE, XEN_DOMCTL_MONITOR_EVENT_DEBUG_EXCEPTION)} with
     * {@code u.debug_exception.sync}: every #DB the guest takes, ICEBP (0xF1) included, becomes a
     * request ({@code hvm_monitor_debug}, HVM_MONITOR_DEBUG_EXCEPTION); with {@code sync} its vCPU
     * waits for the answer, and without it the guest takes the #DB at once.
     */
    public void monitorDebugException(int domid, boolean enable, boolean sync) {
        beginMonitor(domid, enable ? "XEN_DOMCTL_MONITOR_OP_ENABLE" : "XEN_DOMCTL_MONITOR_OP_DISABLE",
                abi.constant(MonitorEvent.DEBUG_EXCEPTION.xenName()));
        domctl.set(dbSync, sync ? 1 : 0);
        issueDomctl("XEN_DOMCTL_monitor_op", domid);
    }

    /**
     * {@code XEN_DOMCTL_monitor_op(ENABLE | DISABLE, XEN_DOMCTL_MONITOR_EVENT_GUEST_REQUEST)} with
     * {@code u.guest_request.sync} (the vCPU waits for the answer) and {@code allow_userspace}.
     */
    public void monitorGuestRequest(int domid, boolean enable, boolean sync, boolean allowUserspace) {
        beginMonitor(domid, enable ? "XEN_DOMCTL_MONITOR_OP_ENABLE" : "XEN_DOMCTL_MONITOR_OP_DISABLE",
                abi.constant(MonitorEvent.GUEST_REQUEST.xenName()));
        domctl.set(grSync, sync ? 1 : 0);
        domctl.set(grUserspace, allowUserspace ? 1 : 0);
        issueDomctl("XEN_DOMCTL_monitor_op", domid);
    }

    /**
     * {@code XEN_DOMCTL_monitor_op(ENABLE | DISABLE, XEN_DOMCTL_MONITOR_EVENT_WRITE_CTRLREG)} for the
     * register {@code index} ({@code VM_EVENT_X86_CR0}, {@code _CR3}, {@code _CR4}, {@code _XCR0}),
     * with {@code u.mov_to_cr.sync}, {@code onchangeonly} and {@code bitmask} (bits whose change
     * alone raises no event).
     */
    public void monitorWriteCtrlreg(int domid, int index, boolean enable, boolean sync, boolean onChangeOnly,
                                    long bitmask) {
        if (index < 0 || index > abi.constant("VM_EVENT_X86_XCR0")) {
            throw new IllegalArgumentException("control register index " + index + " is not a VM_EVENT_X86_* "
                    + "(0 to " + abi.constant("VM_EVENT_X86_XCR0") + ")");
        }
        beginMonitor(domid, enable ? "XEN_DOMCTL_MONITOR_OP_ENABLE" : "XEN_DOMCTL_MONITOR_OP_DISABLE",
                abi.constant(MonitorEvent.WRITE_CTRLREG.xenName()));
        domctl.set(crIndex, index);
        domctl.set(crSync, sync ? 1 : 0);
        domctl.set(crOnchange, onChangeOnly ? 1 : 0);
        domctl.set(crBitmask, bitmask);
        issueDomctl("XEN_DOMCTL_monitor_op", domid);
    }

    private void beginMonitor(int domid, String op, long event) {
        Hypervisor.checkDomid("XEN_DOMCTL_monitor_op", domid);
        beginDomctl("XEN_DOMCTL_monitor_op", domid);
        domctl.set(moOp, abi.constant(op));
        domctl.set(moEvent, event);
    }

    // ---- the ring page ----

    /**
     * {@code __HYPERVISOR_hvm_op(HVMOP_get_param)}: the value of HVM parameter {@code index} of the
     * domain (e.g. {@code HVM_PARAM_MONITOR_RING_PFN}). EINVAL for a PV domain or an index past
     * {@code HVM_NR_PARAMS}.
     */
    public long hvmParam(int domid, int index) {
        Hypervisor.checkDomid("HVMOP_get_param", domid);
        if (index < 0) {
            throw new IllegalArgumentException("HVMOP_get_param: parameter index " + index + " is negative");
        }
        param.reset();
        param.set(pDomid, domid);
        param.set(pIndex, index);
        xen.issue(param, hHvmOp, "HVMOP_get_param", domid, false, abi.constant("HVMOP_get_param"),
                param.address(), 0);
        return param.get(pValue);
    }

    /**
     * {@code XEN_DOMCTL_getpageframeinfo3} of one gfn: its {@code XEN_DOMCTL_PFINFO_*} type bits
     * ({@code XEN_DOMCTL_PFINFO_XTAB}: not in the domain's physmap), as {@code xc_get_pfn_type_batch}
     * asks before populating a ring page.
     */
    public long pageType(int domid, long gfn) {
        checkGfn("XEN_DOMCTL_getpageframeinfo3", gfn);
        Hypervisor.checkDomid("XEN_DOMCTL_getpageframeinfo3", domid);
        frames.put(longBytes(gfn), 8);
        beginDomctl("XEN_DOMCTL_getpageframeinfo3", domid);
        domctl.set(pfNum, 1);
        domctl.set(pfArray, frames.address());
        issueDomctl("XEN_DOMCTL_getpageframeinfo3", domid);
        byte[] out = frames.get(8);
        // Xen writes each entry's type over its gfn (arch_do_domctl): compared whole, as libxc does.
        return java.nio.ByteBuffer.wrap(out).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
    }

    /**
     * {@code __HYPERVISOR_memory_op(XENMEM_populate_physmap)} of one order-0 extent at {@code gfn}:
     * gives the domain a fresh page there (the ring page when the param's gfn has none).
     */
    public void populatePhysmap(int domid, long gfn) {
        reserve("XENMEM_populate_physmap", domid, gfn);
    }

    /**
     * {@code __HYPERVISOR_memory_op(XENMEM_decrease_reservation)} of one order-0 extent at
     * {@code gfn}: takes the page out of the domain's physmap (the enabled ring page, so the guest
     * cannot see or write it).
     */
    public void decreaseReservation(int domid, long gfn) {
        reserve("XENMEM_decrease_reservation", domid, gfn);
    }

    private void reserve(String name, int domid, long gfn) {
        Hypervisor.checkDomid(name, domid);
        checkGfn(name, gfn);
        frames.put(longBytes(gfn), 8);
        reservation.reset();
        reservation.set(rExtentStart, frames.address());
        reservation.set(rNrExtents, 1);
        reservation.set(rOrder, 0);
        reservation.set(rFlags, 0);
        reservation.set(rDomid, domid);
        long done = xen.issue(reservation, hMemoryOp, name, domid, true, abi.constant(name), reservation.address(), 0);
        if (done != 1 && !xen.dryRun()) {
            // memory_op answers the number of extents done: 0 of 1 is Xen's way of refusing this gfn.
            throw new XenException(name, domid, Errno.EINVAL, "the hypervisor did 0 of 1 extents at gfn 0x"
                    + Long.toHexString(gfn) + (name.contains("decrease") ? " (no page there)" : " (a page is there already)"));
        }
    }

    // ---- dm_op ----

    /**
     * {@code __HYPERVISOR_dm_op(domid, 1, {XEN_DMOP_inject_event})}: exception {@code vector} of
     * {@code type} ({@code XEN_DMOP_EVENT_*}, the same numbers as a request's {@code X86_EVENTTYPE_*})
     * is delivered to vCPU {@code vcpu} on its next entry, as if no monitor had caught it
     * (libxendevicemodel's {@code xendevicemodel_inject_event}, with no error code).
     * {@code insnLength} is the instruction's length for software events; {@code cr2} is CR2 for a
     * #PF and the pending debug bits ({@code pending_dbg}) for a #DB. EINVAL for a bad vCPU, EBUSY
     * while another event is pending injection on it.
     */
    public void injectEvent(int domid, int vcpu, int vector, int type, int insnLength, long cr2) {
        Hypervisor.checkDomid("XEN_DMOP_inject_event", domid);
        if (vcpu < 0) {
            throw new IllegalArgumentException("XEN_DMOP_inject_event: vCPU " + vcpu + " is negative");
        }
        if (vector < 0 || vector > 255 || type < 0 || type > 7 || insnLength < 0 || insnLength > 15) {
            throw new IllegalArgumentException("XEN_DMOP_inject_event: vector " + vector + ", type " + type
                    + ", insn_len " + insnLength + " (vector 0 to 255, type 0 to 7, length 0 to 15)");
        }
        dmOp.reset();
        dmOp.set(dOp, abi.constant("XEN_DMOP_inject_event"));
        dmOp.set(iVcpu, vcpu);
        dmOp.set(iVector, vector);
        dmOp.set(iType, type);
        dmOp.set(iInsnLen, insnLength);
        dmOp.set(iErrorCode, 0xffff_ffffL); // X86_EVENT_NO_EC
        dmOp.set(iCr2, cr2);
        dmBuf.reset();
        dmBuf.set(bHandle, dmOp.address());
        dmBuf.set(bSize, dmOp.layout.size());
        dmBuf.push();
        xen.issue(dmOp, hDmOp, "XEN_DMOP_inject_event", domid, true, domid, 1, dmBuf.address());
    }

    // ----

    private void beginDomctl(String name, int domid) {
        domctl.reset();
        domctl.set(cmd, abi.constant(name));
        domctl.set(version, domctlVersion);
        domctl.set(domain, domid);
    }

    private void issueDomctl(String name, int domid) {
        boolean reads = domctl.get(cmd) == abi.constant("XEN_DOMCTL_getpageframeinfo3")
                || (name.equals("XEN_DOMCTL_monitor_op")
                && domctl.get(moOp) == abi.constant("XEN_DOMCTL_MONITOR_OP_GET_CAPABILITIES"));
        xen.issue(domctl, hDomctl, name, domid, !reads, domctl.address(), 0, 0);
    }

    private static void checkGfn(String call, long gfn) {
        // A gfn is an x86-64 frame number: 52 address bits less 12.
        if (gfn < 0 || gfn >= 1L << 40) {
            throw new IllegalArgumentException(call + ": gfn 0x" + Long.toHexString(gfn) + " is not a guest frame "
                    + "number (0 to 0xffffffffff)");
        }
    }

    private static byte[] longBytes(long v) {
        return java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    @Override
    public void close() {
        domctl.buffer.close();
        param.buffer.close();
        reservation.buffer.close();
        dmOp.buffer.close();
        dmBuf.buffer.close();
        frames.close();
    }
}
