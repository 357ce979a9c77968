package org.xenfork.abi;

import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * The releases a release-parameterized test runs for, for every module's tests
 * ({@code @MethodSource("org.xenfork.abi.Releases#all")}; published in abi's test-jar).
 *
 * <p>Every list starts from {@link XenRelease#SUPPORTED}, so a release added by the documented steps
 * (docs/ABI.md, "Adding a release") runs in every test at once. A test that holds only for some
 * releases takes a named subset below, and the subset is a predicate, never a list: where the
 * difference shows in the ABI it is read from the release's declaration, so a new release lands on
 * the side its headers put it; where Xen changed behaviour without an ABI trace, the predicate is
 * the release that changed it, open-ended, with the Xen change named.
 */
public final class Releases {

    private Releases() {
    }

    /** Every supported release. */
    public static Stream<String> all() {
        return where(r -> true);
    }

    /** Releases whose xen_domctl_createdomain has {@code grant_opts} (added by 4.16). */
    public static Stream<String> withGrantOpts() {
        return where(Releases::hasGrantOpts);
    }

    /** Releases whose xen_domctl_createdomain lacks {@code grant_opts}. */
    public static Stream<String> withoutGrantOpts() {
        return where(Releases::hasGrantOpts, false);
    }

    /** Releases whose xen_domctl_createdomain names a cpupool ({@code cpupool_id}, added by 4.17). */
    public static Stream<String> withCpupoolId() {
        return where(r -> Abi.forRelease(r).struct("xen_domctl_createdomain").field("cpupool_id").isPresent());
    }

    /**
     * fork_reset with flags: the release defines {@code XENMEM_FORK_RESET_STATE}/{@code _MEMORY}
     * (4.17); without them Xen resets state and memory together and the flags must be 0.
     */
    public static Stream<String> withForkResetFlags() {
        return where(Releases::hasForkResetFlags);
    }

    /** The flags-less fork_reset: no {@code XENMEM_FORK_RESET_*} constants. */
    public static Stream<String> withoutForkResetFlags() {
        return where(Releases::hasForkResetFlags, false);
    }

    /**
     * A monitor's response can reset the fork it came from: the release defines
     * {@code VM_EVENT_FLAG_RESET_FORK_STATE}/{@code _MEMORY} in vm_event.h (4.17), as KF/x uses them.
     */
    public static Stream<String> withVmEventForkReset() {
        return where(Releases::hasVmEventForkReset);
    }

    /** No fork-reset flags in vm_event.h: a fork is reset by XENMEM_sharing_op_fork_reset only. */
    public static Stream<String> withoutVmEventForkReset() {
        return where(Releases::hasVmEventForkReset, false);
    }

    /** Releases with {@code struct xen_varbuf} (4.20), which the {@code XENVER_*2} sub-ops fill. */
    public static Stream<String> withVarbuf() {
        return where(Releases::hasVarbuf);
    }

    /** Releases without {@code struct xen_varbuf}: XENVER_build_id takes {@code xen_build_id}. */
    public static Stream<String> withoutVarbuf() {
        return where(Releases::hasVarbuf, false);
    }

    /**
     * XEN_DOMCTL_getdomaininfo answers for the named domain only, else ESRCH: Xen 31c655497461
     * ("domctl: Modify XEN_DOMCTL_getdomaininfo to fail if domid is not found"), a binary
     * incompatible change for which bdb1184d4f bumped XEN_DOMCTL_INTERFACE_VERSION to 0x16 (4.18).
     */
    public static Stream<String> withExactGetdomaininfo() {
        return where(Releases::exactGetdomaininfo);
    }

    /** XEN_DOMCTL_getdomaininfo returns the first domain at or above the id (before 4.18). */
    public static Stream<String> withGetdomaininfoAtOrAbove() {
        return where(Releases::exactGetdomaininfo, false);
    }

    /**
     * fork_reset may fail with EAGAIN for the caller to retry: from 4.18, whose copy_settings
     * turns -ERESTART into -EAGAIN; no ABI trace.
     */
    public static Stream<String> withForkResetEagain() {
        return where(r -> r.atLeast(4, 18));
    }

    /**
     * A failed XEN_DOMCTL_sethvmcontext may have loaded part of the stream: up to 4.18; 4.19's
     * hvm_load checks the whole stream first (Xen 5b6cab423c, "x86/HVM: split restore state
     * checking from state loading"); no ABI trace.
     */
    public static Stream<String> withPartialFailedLoad() {
        return where(r -> !r.atLeast(4, 19));
    }

    /**
     * memory_op goes through a one-entry multicall, as libxc sends it from 4.16 (Xen abfbb29830a2, "libxc: use
     * multicall for memory-op on Linux (and Solaris)": a 64-bit result is not cut to ioctl's int); privcmd's
     * Hypervisor does the same; no ABI trace.
     */
    public static Stream<String> withMemoryOpInMulticall() {
        return where(r -> r.atLeast(4, 16));
    }

    /**
     * fork_reset looks the parent up again (rcu_lock_live_remote_domain_by_id) before it resets anything: up to
     * 4.15; 4.16 takes d->parent as it is (Xen 01a8a5141234, "x86/mem_sharing: don't lock parent during fork
     * reset"); no ABI trace.
     */
    public static Stream<String> withForkResetRelockingTheParent() {
        return where(r -> !r.atLeast(4, 16));
    }

    /**
     * createdomain takes an HVM domain without {@code XEN_X86_EMU_USE_PIRQ}: from 4.19 (Xen 72cad62abbaa, "x86/hvm:
     * make X86_EMU_USE_PIRQ optional"); before, emulation_flags_ok() refuses it; no ABI trace.
     */
    public static Stream<String> withOptionalPirqEmulation() {
        return where(r -> r.atLeast(4, 19));
    }

    private static boolean hasGrantOpts(XenRelease r) {
        return Abi.forRelease(r).struct("xen_domctl_createdomain").field("grant_opts").isPresent();
    }

    private static boolean hasForkResetFlags(XenRelease r) {
        return Abi.forRelease(r).findConstant("XENMEM_FORK_RESET_STATE").isPresent();
    }

    private static boolean hasVmEventForkReset(XenRelease r) {
        return Abi.forRelease(r).findConstant("VM_EVENT_FLAG_RESET_FORK_STATE").isPresent();
    }

    private static boolean hasVarbuf(XenRelease r) {
        return Abi.forRelease(r).structs().stream().anyMatch(s -> s.name().equals("xen_varbuf"));
    }

    private static boolean exactGetdomaininfo(XenRelease r) {
        return Abi.forRelease(r).constant("XEN_DOMCTL_INTERFACE_VERSION") >= 0x16;
    }

    private static Stream<String> where(Predicate<XenRelease> p) {
        return where(p, true);
    }

    private static Stream<String> where(Predicate<XenRelease> p, boolean holds) {
        return XenRelease.SUPPORTED.stream().filter(r -> p.test(r) == holds).map(XenRelease::toString);
    }
}
