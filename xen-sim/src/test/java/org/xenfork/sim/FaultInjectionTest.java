package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.NativeException;

/**
 * Planned failures and the call log, as workflow tests will use them. Fault injection does not
 * depend on the release: one release per test is enough, but for fork_reset's EAGAIN, which is a
 * release's.
 */
class FaultInjectionTest {

    @Test
    void aOneShotFaultFailsTheNextMatchingCallWithoutSideEffects() throws NativeException {
        SimClient c = SimClient.of("4.17");
        c.xen.injectFault(SimCall.named("XEN_DOMCTL_createdomain"), Errno.ENOMEM);
        assertThat(c.domctl("getdomaininfo", 0).ok()).isTrue(); // does not match
        assertThat(c.createHvm(0, 1, Map.of()).errno()).isEqualTo(Errno.ENOMEM);
        assertThat(c.xen.domains()).hasSize(1);
        SimClient.Outcome again = c.createHvm(0, 1, Map.of());
        assertThat(again.ok()).isTrue();
        assertThat(again.get("domain")).isEqualTo(1); // the failed call did not move the rover
    }

    @Test
    void anNShotFaultAndAPredicateOnTheTargetDomain() throws NativeException {
        SimClient c = SimClient.of("4.18");
        SimDomain a = c.xen.addGuest(GuestSpec.hvm("a", 1, 4096));
        SimDomain b = c.xen.addGuest(GuestSpec.hvm("b", 1, 4096));
        c.xen.injectFault(SimCall.named("XEN_DOMCTL_pausedomain", b.domid()), Errno.EBUSY, 2);
        assertThat(c.domctl("pausedomain", a.domid()).ok()).isTrue();
        assertThat(c.domctl("pausedomain", b.domid()).errno()).isEqualTo(Errno.EBUSY);
        assertThat(c.domctl("pausedomain", b.domid()).errno()).isEqualTo(Errno.EBUSY);
        assertThat(b.controllerPauseCount()).isZero();
        assertThat(c.domctl("pausedomain", b.domid()).ok()).isTrue();
        assertThat(c.xen.calls()).filteredOn(LoggedCall::injected).hasSize(2)
                .allSatisfy(l -> assertThat(l.toString()).endsWith("EBUSY (16) [injected]"));
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withForkResetEagain")
    void forkResetCanBeMadeToAskForARetry(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 400));
        int child = c.newForkChild(1);
        c.fork(child, parent.domid(), 0);
        c.domctl("unpausedomain", child);
        c.xen.guestAccess(child, 3, true);
        c.xen.injectFault(SimCall.named("XENMEM_sharing_op_fork_reset"), Errno.EAGAIN);
        int both = (int) (c.constant("XENMEM_FORK_RESET_STATE") | c.constant("XENMEM_FORK_RESET_MEMORY"));
        assertThat(c.forkReset(child, both).errno()).isEqualTo(Errno.EAGAIN);
        assertThat(c.xen.domain(child).orElseThrow().totPages()).isEqualTo(1);
        assertThat(c.forkReset(child, both).ok()).isTrue();
        assertThat(c.xen.domain(child).orElseThrow().totPages()).isZero();
    }

    @Test
    void aFaultOnACallInsideAMulticallLandsInItsEntry() throws NativeException {
        SimClient c = SimClient.of("4.18");
        c.xen.injectFault(SimCall.named("XENVER_version"), Errno.EPERM);
        StructLayout e = c.struct("multicall_entry");
        long list = c.put(StructCodec.encode(e, Map.of("op", Long.toString(c.constant("__HYPERVISOR_xen_version")),
                "args[0]", Long.toString(c.constant("XENVER_version")))));
        assertThat(c.hypercall(c.constant("__HYPERVISOR_multicall"), list, 1)).isZero();
        assertThat(e.leaf("result").read(c.get(list, e.size()), 0)).isEqualTo(-Errno.EPERM);
    }

    @Test
    void faultsCanBeClearedAndMustBeRealErrnos() throws NativeException {
        SimClient c = SimClient.of("4.14");
        c.xen.injectFault(SimCall.named("xen_version"), Errno.EIO);
        c.xen.clearFaults();
        assertThat(c.hypercall(c.constant("__HYPERVISOR_xen_version"), 0)).isEqualTo(0x4000e);
        assertThatThrownBy(() -> c.xen.injectFault(call -> true, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.xen.injectFault(call -> true, Errno.EIO, 0))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theLogDecodesEachCallInOrder() throws NativeException {
        SimClient c = SimClient.of("4.17");
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        c.hypercall(c.constant("__HYPERVISOR_xen_version"), 0);
        int child = c.newForkChild(1);
        c.fork(child, parent.domid(), 0);
        c.sysctl("physinfo", Map.of());
        c.hypercall(c.constant("__HYPERVISOR_domctl"), 0x1000); // unreadable
        assertThat(c.xen.calls()).extracting(LoggedCall::toString).containsExactly(
                "xen_version XENVER_version -> 262161",
                "domctl XEN_DOMCTL_createdomain dom=0 -> 0",
                "domctl XEN_DOMCTL_max_vcpus dom=" + child + " -> 0",
                "memory_op XENMEM_sharing_op XENMEM_sharing_op_fork dom=" + child + " -> 0",
                "sysctl XEN_SYSCTL_physinfo -> 0",
                "domctl -> EFAULT (14)");
        SimCall fork = c.xen.calls().get(3).call();
        assertThat(fork.hypercall()).isEqualTo(c.constant("__HYPERVISOR_memory_op"));
        assertThat(fork.cmd()).isEqualTo(c.constant("XENMEM_sharing_op"));
        assertThat(fork.op()).isEqualTo(c.constant("XENMEM_sharing_op_fork"));
        c.xen.clearCalls();
        assertThat(c.xen.calls()).isEmpty();
    }

    @Test
    @Timeout(20) // a hook run under the simulator's lock would leave the reader below blocked on it
    void anAfterCallActionRunsOnceAfterTheAnswerOutsideTheLock() throws Exception {
        SimClient c = SimClient.of("4.17");
        List<String> seen = new ArrayList<>();
        c.xen.afterCall(SimCall.named("XEN_DOMCTL_createdomain"), done -> {
            seen.add(done.toString());
            // another thread reads the simulator while this action holds the caller: no deadlock,
            // and the call's effect is already there
            CompletableFuture<Integer> other = CompletableFuture.supplyAsync(() -> c.xen.domains().size());
            try {
                seen.add("domains seen by another thread: " + other.get()); // interruptible, so the @Timeout can end it
            } catch (InterruptedException | ExecutionException e) {
                throw new AssertionError("the other thread could not read the simulator", e);
            }
        });
        assertThat(c.domctl("getdomaininfo", 0).ok()).as("does not match").isTrue();
        assertThat(seen).isEmpty();
        assertThat(c.createHvm(0, 1, Map.of()).ok()).isTrue();
        assertThat(seen).containsExactly("domctl XEN_DOMCTL_createdomain dom=0 -> 0", "domains seen by another thread: 2");
        assertThat(c.createHvm(0, 1, Map.of()).ok()).isTrue();
        assertThat(seen).as("once").hasSize(2);
    }

    @Test
    void anAfterCallActionSeesOnlyTopLevelCalls() throws NativeException {
        SimClient c = SimClient.of("4.18");
        List<String> seen = new ArrayList<>();
        c.xen.afterCall(SimCall.named("XENVER_version"), done -> seen.add("inner " + done));
        c.xen.afterCall(SimCall.named("multicall"), done -> seen.add("outer " + done));
        StructLayout e = c.struct("multicall_entry");
        long list = c.put(StructCodec.encode(e, Map.of("op", Long.toString(c.constant("__HYPERVISOR_xen_version")),
                "args[0]", Long.toString(c.constant("XENVER_version")))));
        assertThat(c.hypercall(c.constant("__HYPERVISOR_multicall"), list, 1)).isZero();
        assertThat(seen).containsExactly("outer multicall -> 0");
    }
}
