package org.xenfork.vmi;

import java.util.Optional;

/**
 * What a monitor answers to one request: resume the vCPU (echo {@code VM_EVENT_FLAG_VCPU_PAUSED}),
 * and optionally set its registers (rip here: {@code VM_EVENT_FLAG_SET_REGISTERS} loads all the
 * request's registers with rip replaced), toggle single-stepping, or reset the fork the vCPU belongs
 * to ({@code VM_EVENT_FLAG_RESET_FORK_STATE}/{@code _MEMORY}, Xen 4.17 and later).
 *
 * <pre>{@code
 * monitor.respond(VmEventResponse.resume(req).withToggleSinglestep());
 * }</pre>
 */
public final class VmEventResponse {
    private final VmEventRequest request;
    private final Long rip;
    private final boolean toggleSinglestep;
    private final boolean resetForkState;
    private final boolean resetForkMemory;

    private VmEventResponse(VmEventRequest request, Long rip, boolean toggle, boolean state, boolean memory) {
        this.request = request;
        this.rip = rip;
        this.toggleSinglestep = toggle;
        this.resetForkState = state;
        this.resetForkMemory = memory;
    }

    /** The answer that lets the vCPU of {@code request} run on as it was. */
    public static VmEventResponse resume(VmEventRequest request) {
        if (request == null) {
            throw new IllegalArgumentException("no request to answer");
        }
        return new VmEventResponse(request, null, false, false, false);
    }

    /** Also loads the request's registers with {@code rip} replaced ({@code VM_EVENT_FLAG_SET_REGISTERS}). */
    public VmEventResponse withRip(long newRip) {
        return new VmEventResponse(request, newRip, toggleSinglestep, resetForkState, resetForkMemory);
    }

    /** Also toggles single-stepping of the vCPU ({@code VM_EVENT_FLAG_TOGGLE_SINGLESTEP}). */
    public VmEventResponse withToggleSinglestep() {
        return new VmEventResponse(request, rip, true, resetForkState, resetForkMemory);
    }

    /**
     * Also resets the fork before its vCPU runs again: its state, its memory, or both (KF/x's one
     * round trip per iteration). {@link Monitor#respond} refuses it on a release without the flags.
     */
    public VmEventResponse withForkReset(boolean state, boolean memory) {
        if (!state && !memory) {
            throw new IllegalArgumentException("a fork reset resets the state, the memory or both");
        }
        return new VmEventResponse(request, rip, toggleSinglestep, state, memory);
    }

    public VmEventRequest request() {
        return request;
    }

    public Optional<Long> rip() {
        return Optional.ofNullable(rip);
    }

    public boolean toggleSinglestep() {
        return toggleSinglestep;
    }

    public boolean resetForkState() {
        return resetForkState;
    }

    public boolean resetForkMemory() {
        return resetForkMemory;
    }
}
