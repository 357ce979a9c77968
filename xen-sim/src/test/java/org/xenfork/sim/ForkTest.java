package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Releases;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.NativeException;

/** XENMEM_sharing_op fork and fork_reset through the seam, every check of xen/arch/x86/mm/mem_sharing.c per release. */
class ForkTest {
    /** The XENMEM_FORK_* bits by Xen's names; the newest release has them all (the reset ones came in 4.17). */
    private static final Abi NEWEST = Abi.forRelease(XenRelease.SUPPORTED.get(XenRelease.SUPPORTED.size() - 1));
    private static final int IOMMU_ALLOWED = (int) NEWEST.constant("XENMEM_FORK_WITH_IOMMU_ALLOWED");
    private static final int BLOCK_INTERRUPTS = (int) NEWEST.constant("XENMEM_FORK_BLOCK_INTERRUPTS");
    private static final int RESET_STATE = (int) NEWEST.constant("XENMEM_FORK_RESET_STATE");
    private static final int RESET_MEMORY = (int) NEWEST.constant("XENMEM_FORK_RESET_MEMORY");

    /** fork_reset takes XENMEM_FORK_RESET_* flags where the release declares them (4.17 on); 0 before. */
    private static boolean flagsReset(String release) {
        return Abi.forRelease(XenRelease.parse(release)).findConstant("XENMEM_FORK_RESET_STATE").isPresent();
    }

    /** The reset that covers memory and state on every release. */
    private static int fullReset(String release) {
        return flagsReset(release) ? RESET_STATE | RESET_MEMORY : 0;
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void forkLinksThePausedChildToItsParent(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 2, 65536));
        int child = c.newForkChild(2);
        SimClient.Outcome r = c.fork(child, parent.domid(), 0);
        assertThat(r.errno()).isZero();
        assertThat(r.rc()).isZero();
        SimDomain d = c.xen.domain(child).orElseThrow();
        assertThat(d.parent()).hasValue(parent.domid());
        assertThat(d.maxPages()).isEqualTo(parent.maxPages());
        assertThat(d.onlineVcpus()).isEqualTo(2);
        assertThat(d.sharingEnabled()).isTrue();
        assertThat(parent.sharingEnabled()).isTrue();
        assertThat(d.blockInterrupts()).isFalse();
        assertThat(c.xen.hvmContext(child)).isEqualTo(c.xen.hvmContext(parent.domid()));
        // memory is not copied eagerly
        assertThat(d.totPages()).isZero();
        assertThat(d.shrPages()).isZero();
        // Xen paused the parent; the controller did not
        assertThat(parent.pauseCount()).isEqualTo(1);
        assertThat(parent.controllerPauseCount()).isZero();
        SimClient.Outcome info = c.domctl("getdomaininfo", parent.domid());
        assertThat(info.get("u.getdomaininfo.flags") & (c.constant("XEN_DOMINF_running")
                | c.constant("XEN_DOMINF_paused"))).isZero();
        // the fork stays paused by the controller until the toolstack unpauses it
        assertThat(d.controllerPauseCount()).isEqualTo(1);
        // destroying the fork unpauses the parent and drops its reference
        assertThat(c.domctl("destroydomain", child).ok()).isTrue();
        assertThat(parent.pauseCount()).isZero();
        assertThat(c.xen.domain(child)).isEmpty();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void theParentStaysPausedWhileAnyForkExists(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096).paused());
        int a = c.newForkChild(1);
        int b = c.newForkChild(1);
        assertThat(c.fork(a, parent.domid(), BLOCK_INTERRUPTS).ok()).isTrue();
        assertThat(c.fork(b, parent.domid(), 0).ok()).isTrue();
        assertThat(c.xen.domain(a).orElseThrow().blockInterrupts()).isTrue();
        assertThat(c.xen.domain(b).orElseThrow().blockInterrupts()).isFalse();
        assertThat(parent.pauseCount()).isEqualTo(3); // the controller's, and one per fork
        // the controller may unpause its own pause: the parent is still not runnable
        assertThat(c.domctl("unpausedomain", parent.domid()).ok()).isTrue();
        assertThat(c.domctl("getdomaininfo", parent.domid()).get("u.getdomaininfo.flags")
                & c.constant("XEN_DOMINF_running")).isZero();
        c.domctl("destroydomain", a);
        assertThat(parent.pauseCount()).isEqualTo(1);
        c.domctl("destroydomain", b);
        assertThat(parent.pauseCount()).isZero();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aDestroyedParentLingersDyingUntilItsLastForkGoes(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        c.fork(child, parent.domid(), 0);
        assertThat(c.domctl("destroydomain", parent.domid()).ok()).isTrue();
        assertThat(c.xen.domain(parent.domid())).containsSame(parent);
        assertThat(parent.isDying()).isTrue();
        SimClient.Outcome info = c.domctl("getdomaininfo", parent.domid());
        assertThat(info.get("u.getdomaininfo.flags") & c.constant("XEN_DOMINF_dying")).isNotZero();
        assertThat(info.get("u.getdomaininfo.tot_pages")).isZero();
        // a dying domain can neither fork nor be forked into (EINVAL)
        int other = c.newForkChild(1);
        assertThat(c.fork(other, parent.domid(), 0).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.fork(parent.domid(), other, 0).errno()).isEqualTo(Errno.EINVAL);
        c.domctl("destroydomain", child);
        assertThat(c.xen.domain(parent.domid())).isEmpty();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void childLookupErrors(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        assertThat(c.fork(77, parent.domid(), 0).errno()).isEqualTo(Errno.ESRCH);
        assertThat(c.fork(0, parent.domid(), 0).errno()).isEqualTo(Errno.EPERM);
        assertThat(c.fork(0x7ff0, parent.domid(), 0).errno()).isEqualTo(Errno.ESRCH); // DOMID_SELF
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void theChildIsCheckedWithFlagsZeroBeforeAnythingElse(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).iommu(true).build());
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        SimDomain pv = c.xen.addGuest(GuestSpec.pv("pv", 1, 4096).paused());
        SimDomain shadow = c.xen.addGuest(GuestSpec.hvm("shadow", 1, 4096).withHap(false).paused());
        SimDomain iommu = c.xen.addGuest(GuestSpec.hvm("iommu", 1, 4096).withIommu(true).paused());
        // not HVM: EOPNOTSUPP, even with a bad pad (checked later)
        assertThat(c.sharingOp("fork", pv.domid(), Map.of("u.fork.parent_domain", parent.domid(),
                "u.fork.pad", 1)).errno()).isEqualTo(Errno.EOPNOTSUPP);
        assertThat(c.fork(shadow.domid(), parent.domid(), 0).errno()).isEqualTo(Errno.ENODEV);
        // the IOMMU flag does not help the child
        assertThat(c.fork(iommu.domid(), parent.domid(), IOMMU_ALLOWED).errno()).isEqualTo(Errno.EXDEV);
        assertThat(iommu.sharingEnabled()).isFalse();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void forkArgumentAndParentErrorsInXensOrder(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).iommu(true).build());
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 2, 4096));
        int child = c.newForkChild(2);
        assertThat(c.sharingOp("fork", child, Map.of("u.fork.parent_domain", parent.domid(), "u.fork.pad", 1))
                .errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.fork(child, parent.domid(), RESET_STATE).errno()).isEqualTo(Errno.EINVAL);
        // flags are checked before the parent is even looked up
        assertThat(c.fork(child, 77, 0x10).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.fork(child, 77, 0).errno()).isEqualTo(Errno.ESRCH);
        assertThat(c.fork(child, 0, 0).errno()).isEqualTo(Errno.EPERM);
        SimDomain oneVcpu = c.xen.addGuest(GuestSpec.hvm("one", 1, 4096));
        assertThat(c.fork(child, oneVcpu.domid(), 0).errno()).isEqualTo(Errno.EINVAL);
        assertThat(oneVcpu.sharingEnabled()).isFalse(); // max_vcpus is checked before the parent's control
        SimDomain pvParent = c.xen.addGuest(GuestSpec.pv("pvp", 2, 4096));
        assertThat(c.fork(child, pvParent.domid(), 0).errno()).isEqualTo(Errno.EOPNOTSUPP);
        SimDomain shadowParent = c.xen.addGuest(GuestSpec.hvm("sp", 2, 4096).withHap(false));
        assertThat(c.fork(child, shadowParent.domid(), 0).errno()).isEqualTo(Errno.ENODEV);
        SimDomain iommuParent = c.xen.addGuest(GuestSpec.hvm("ip", 2, 4096).withIommu(true));
        assertThat(c.fork(child, iommuParent.domid(), 0).errno()).isEqualTo(Errno.EXDEV);
        // none of the failures linked the child to anything
        assertThat(c.xen.domain(child).orElseThrow().parent()).isEmpty();
        // WITH_IOMMU_ALLOWED relaxes the parent's check
        assertThat(c.fork(child, iommuParent.domid(), IOMMU_ALLOWED).ok()).isTrue();
        assertThat(c.xen.domain(child).orElseThrow().parent()).hasValue(iommuParent.domid());
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aChildNotPausedByTheControllerIsEbusy(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        c.domctl("unpausedomain", child);
        assertThat(c.fork(child, parent.domid(), 0).errno()).isEqualTo(Errno.EBUSY);
        assertThat(parent.pauseCount()).isZero();
        c.domctl("pausedomain", child);
        assertThat(c.fork(child, parent.domid(), 0).ok()).isTrue();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void forksNeedIntelVmx(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).cpuVendor(SimXen.CpuVendor.AMD)
                .build());
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        assertThat(c.fork(child, parent.domid(), 0).errno()).isEqualTo(Errno.EOPNOTSUPP);
        assertThat(c.forkReset(child, fullReset(release)).errno()).isEqualTo(Errno.EOPNOTSUPP);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void withoutConfigMemSharingMemoryOpIsEnosys(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).memSharing(false).build());
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        assertThat(c.fork(child, parent.domid(), 0).errno()).isEqualTo(Errno.ENOSYS);
        assertThat(c.forkReset(child, fullReset(release)).errno()).isEqualTo(Errno.ENOSYS);
        // and getdomaininfo has no shared pages to report
        assertThat(c.domctl("getdomaininfo", parent.domid()).get("u.getdomaininfo.shr_pages")).isZero();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withoutForkResetFlags")
    void forkResetBefore417TakesNoFlags(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        assertThat(c.forkReset(child, 0).errno()).isEqualTo(Errno.ENOSYS); // not a fork yet
        c.fork(child, parent.domid(), 0);
        assertThat(c.forkReset(child, RESET_STATE).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.forkReset(child, RESET_STATE | RESET_MEMORY).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.sharingOp("fork_reset", child, Map.of("u.fork.pad", 1)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.forkReset(child, 0).ok()).isTrue();
        assertThat(c.forkReset(parent.domid(), 0).errno()).isEqualTo(Errno.ENOSYS);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withForkResetFlags")
    void forkResetFrom417NeedsANonEmptySubsetOfStateAndMemory(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        assertThat(c.forkReset(child, RESET_STATE).errno()).isEqualTo(Errno.ENOSYS); // not a fork yet
        assertThat(c.forkReset(child, 0).errno()).isEqualTo(Errno.EINVAL); // flags before the fork check
        c.fork(child, parent.domid(), 0);
        assertThat(c.forkReset(child, 0).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.forkReset(child, RESET_STATE | 1).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.forkReset(child, 0x10 | RESET_MEMORY).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.sharingOp("fork_reset", child, Map.of("u.fork.flags", RESET_STATE, "u.fork.pad", 1))
                .errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.forkReset(child, RESET_STATE).ok()).isTrue();
        assertThat(c.forkReset(child, RESET_MEMORY).ok()).isTrue();
        assertThat(c.forkReset(child, RESET_STATE | RESET_MEMORY).ok()).isTrue();
        assertThat(c.xen.domain(child).orElseThrow().controllerPauseCount()).isEqualTo(1);
        assertThat(c.forkReset(parent.domid(), RESET_STATE).errno()).isEqualTo(Errno.ENOSYS);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void forkMemoryIsSharedOnReadPrivateOnWriteAndResetDropsPrivatePages(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 400));
        int child = c.newForkChild(1);
        c.fork(child, parent.domid(), 0);
        SimDomain fork = c.xen.domain(child).orElseThrow();
        assertThatThrownBy(() -> c.xen.guestAccess(child, 0, false)).isInstanceOf(IllegalStateException.class);
        c.domctl("unpausedomain", child);
        for (long gfn = 0; gfn < 10; gfn++) {
            c.xen.guestAccess(child, gfn, false);
        }
        for (long gfn = 10; gfn < 15; gfn++) {
            c.xen.guestAccess(child, gfn, true);
        }
        c.xen.guestAccess(child, 0, true); // unshare
        assertThat(fork.shrPages()).isEqualTo(9);
        assertThat(fork.totPages()).isEqualTo(6);
        assertThat(parent.shrPages()).isEqualTo(10);
        assertThat(parent.totPages()).isEqualTo(90);
        assertThatThrownBy(() -> c.xen.guestAccess(child, 100, false)).isInstanceOf(IllegalArgumentException.class);
        SimClient.Outcome info = c.domctl("getdomaininfo", child);
        assertThat(info.get("u.getdomaininfo.shr_pages")).isEqualTo(9);
        assertThat(info.get("u.getdomaininfo.tot_pages")).isEqualTo(6);

        int memoryOnly = flagsReset(release) ? RESET_MEMORY : 0;
        assertThat(c.forkReset(child, memoryOnly).ok()).isTrue();
        assertThat(fork.totPages()).isZero();
        assertThat(fork.shrPages()).isEqualTo(9);
        assertThat(fork.controllerPauseCount()).isZero();
        if (flagsReset(release)) {
            c.xen.guestAccess(child, 20, true);
            assertThat(c.forkReset(child, RESET_STATE).ok()).isTrue();
            assertThat(fork.totPages()).isEqualTo(1); // a state-only reset keeps memory
        }
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void forkResetStateReloadsTheParentsContext(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        c.fork(child, parent.domid(), 0);
        byte[] ctx = c.xen.hvmContext(child);
        StructLayout cpu = c.struct("hvm_hw_cpu");
        int cpuBody = HvmContextDomctlTest.records(c, ctx).get(1).offset();
        cpu.leaf("rip").write(ctx, cpuBody, 0x4141);
        assertThat(HvmContextDomctlTest.setContext(c, child, ctx).ok()).isTrue();
        assertThat(c.xen.hvmContext(child)).isNotEqualTo(c.xen.hvmContext(parent.domid()));
        if (flagsReset(release)) {
            assertThat(c.forkReset(child, RESET_MEMORY).ok()).isTrue();
            assertThat(cpu.leaf("rip").read(c.xen.hvmContext(child), cpuBody)).isEqualTo(0x4141);
        }
        assertThat(c.forkReset(child, flagsReset(release) ? RESET_STATE : 0).ok()).isTrue();
        assertThat(c.xen.hvmContext(child)).isEqualTo(c.xen.hvmContext(parent.domid()));
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void resettingAForkWhoseParentDiedIsEinval(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 400));
        int child = c.newForkChild(1);
        c.fork(child, parent.domid(), 0);
        c.domctl("unpausedomain", child);
        c.xen.guestAccess(child, 1, true);
        c.domctl("destroydomain", parent.domid());
        assertThat(c.forkReset(child, fullReset(release)).errno()).isEqualTo(Errno.EINVAL);
        // 4.14/4.15 re-lock the parent first; later releases reset memory, then fail to save the parent
        boolean relock = Releases.withForkResetRelockingTheParent().anyMatch(release::equals);
        assertThat(c.xen.domain(child).orElseThrow().totPages()).isEqualTo(relock ? 1 : 0);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void forksOfForksShareFromTheFirstAncestorWithThePage(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 400).paused());
        int sink = c.newForkChild(1);
        assertThat(c.fork(sink, parent.domid(), 0).ok()).isTrue();
        int fuzz = c.newForkChild(1);
        assertThat(c.fork(fuzz, sink, BLOCK_INTERRUPTS).ok()).isTrue();
        c.domctl("unpausedomain", fuzz);
        c.xen.guestAccess(fuzz, 5, false);
        assertThat(c.xen.domain(fuzz).orElseThrow().shrPages()).isEqualTo(1);
        assertThat(c.xen.domain(sink).orElseThrow().shrPages()).isZero();
        assertThat(parent.shrPages()).isEqualTo(1);
        c.xen.guestAccess(fuzz, 6, true);
        assertThat(c.xen.domain(fuzz).orElseThrow().totPages()).isEqualTo(1);
        // the sink is paused by Xen while the fuzz fork exists
        assertThat(c.xen.domain(sink).orElseThrow().pauseCount()).isEqualTo(2);
    }
}
