package org.xenfork.vmi;

/**
 * One request Xen put on the monitor ring ({@code vm_event_request_t}), decoded with the running
 * release's layout. {@code gfn} is {@code u.software_breakpoint.gfn}, {@code u.debug_exception.gfn}
 * or {@code u.singlestep.gfn} (-1 for other reasons); {@code insnLength} that of a breakpoint, a
 * debug exception or CPUID; {@code trapType} the {@code X86_EVENTTYPE_*} of a breakpoint or debug
 * exception (-1 for other reasons: 5, {@code X86_EVENTTYPE_PRI_SW_EXCEPTION}, is an ICEBP) and
 * {@code pendingDbg} a debug exception's pending DR6 bits (else 0); {@code cpuidLeaf} and
 * {@code cpuidSubleaf} are set for CPUID only (else -1).
 *
 * @param reason     {@code VM_EVENT_REASON_*}
 * @param reasonName its Xen name without the prefix, lower case: {@code software_breakpoint}, {@code cpuid}…
 * @param raw        the request's bytes, as a response starts from them
 */
public record VmEventRequest(int version, int flags, int reason, String reasonName, int vcpu, long rip, long gfn,
                             int insnLength, int trapType, long pendingDbg, long cpuidLeaf, long cpuidSubleaf, byte[] raw) {
    public VmEventRequest {
        raw = raw.clone();
    }

    @Override
    public byte[] raw() {
        return raw.clone();
    }
}
