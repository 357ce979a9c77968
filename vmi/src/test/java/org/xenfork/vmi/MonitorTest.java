package org.xenfork.vmi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.DomainConfig;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.ForwardingSeam;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.VmEventHypercalls;
import org.xenfork.privcmd.VmEventHypercalls.MonitorEvent;
import org.xenfork.privcmd.XenEnvironmentException;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.LoggedCall;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimEventChannel;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;

/**
 * {@link Monitor}, {@link MonitorRing} and {@link Breakpoints} on the simulator: the enable sequence
 * and its rollback, a request's decoding, responses (resume, registers, single-step, fork reset per
 * release), the event channel that signals requests and responses, and what close leaves behind
 * (nothing). Where a test must act at the moment {@link Monitor#next} waits, a {@link ForwardingSeam}
 * runs it from the wait's poll(2), on the same thread: one order of events, no clock.
 */
class MonitorTest {
    private SimXen sim;
    private SimulatedSeam seam;
    private Privcmd privcmd;
    private Hypervisor xen;
    private VmEventHypercalls vm;
    private ForeignMemory foreign;

    private void boot(SimXen s) {
        boot(s, UnaryOperator.identity());
    }

    /** The stack over {@code wrap} of the simulator's seam (a test's fault or hook on one call). */
    private void boot(SimXen s, UnaryOperator<NativeSeam> wrap) {
        sim = s;
        seam = new SimulatedSeam(sim);
        privcmd = Privcmd.open(wrap.apply(seam));
        xen = Hypervisor.open(privcmd, null, null, false);
        vm = VmEventHypercalls.open(xen);
        foreign = new ForeignMemory(privcmd);
    }

    private int guest(String release, int vcpus) {
        return guest(release, vcpus, UnaryOperator.identity());
    }

    private int guest(String release, int vcpus, UnaryOperator<NativeSeam> wrap) {
        boot(SimXen.create(XenRelease.parse(release)), wrap);
        return sim.addGuest(GuestSpec.hvm("g", vcpus, 4096)).domid();
    }

    /** A seam whose evtchn poll(2) runs {@code hook} first: what happens while {@link Monitor#next} waits. */
    private static UnaryOperator<NativeSeam> onPoll(Runnable hook) {
        return s -> new ForwardingSeam(s) {
            @Override
            public int poll(int fd, int events, int timeoutMillis) throws NativeException {
                hook.run();
                return super.poll(fd, events, timeoutMillis);
            }
        };
    }

    /** dom0's end of the ring's event channel, as Xen has it. */
    private int dom0Port(int d, Monitor m) {
        SimEventChannel xens = sim.eventChannel(d, m.xenPort()).orElseThrow();
        assertThat(xens.state()).as("Xen's port is bound").isEqualTo(SimEventChannel.State.INTERDOMAIN);
        assertThat(xens.remoteDomid()).isZero();
        return xens.remotePort();
    }

    private void assertNothingLeft(int d, int openFiles) {
        assertThat(seam.privcmdMappingCount()).as("ring page mapped").isZero();
        assertThat(sim.monitorRingEnabled(d)).as("ring enabled").isFalse();
        assertThat(sim.domain(d).orElseThrow().controllerPauseCount()).as("pause").isZero();
        assertThat(seam.openFileCount()).as("open fds (the evtchn handle)").isEqualTo(openFiles);
    }

    @AfterEach
    void close() {
        if (vm != null) {
            vm.close();
            xen.close();
            privcmd.close();
        }
    }

    private List<String> callNames() {
        List<String> out = new ArrayList<>();
        for (LoggedCall c : sim.calls()) {
            out.add(c.call().shortName());
        }
        return out;
    }

    @Test
    void enableFollowsXcMonitorEnableAndLeavesTheDomainAsItWas() {
        int d = guest("4.17", 1);
        sim.clearCalls();
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            assertThat(callNames()).containsSubsequence("XEN_DOMCTL_pausedomain", "HVMOP_get_param",
                    "XEN_DOMCTL_getpageframeinfo3", "XENMEM_populate_physmap", "mmu_update",
                    "XEN_DOMCTL_vm_event_op", "XENMEM_decrease_reservation", "XEN_DOMCTL_unpausedomain");
            assertThat(m.xenPort()).isEqualTo(sim.monitorPort(d));
            assertThat(sim.eventChannel(0, dom0Port(d, m)).orElseThrow().remotePort()).isEqualTo(m.xenPort());
            assertThat(sim.inPhysmap(d, m.ringGfn())).as("the ring page left the physmap").isFalse();
            assertThat(sim.domain(d).orElseThrow().isPaused()).isFalse();
        }
        assertThat(sim.monitorRingEnabled(d)).isFalse();
        assertThat(seam.privcmdMappingCount()).isZero();
    }

    @Test
    void aSecondMonitorIsRefusedWithEbusyAndLeavesNothingMappedOrPaused() {
        int d = guest("4.17", 1);
        try (Monitor first = Monitor.enable(xen, vm, foreign, d)) {
            int mapped = seam.privcmdMappingCount();
            assertThatThrownBy(() -> Monitor.enable(xen, vm, foreign, d)).isInstanceOf(MonitorException.class)
                    .hasMessageContaining("EBUSY").hasMessageContaining("--cleanup");
            assertThat(seam.privcmdMappingCount()).isEqualTo(mapped);
            assertThat(sim.domain(d).orElseThrow().controllerPauseCount()).isZero();
            assertThat(sim.monitorPort(d)).as("the first monitor's ring").isEqualTo(first.xenPort());
        }
    }

    @Test
    void aPvDomainHasNoRingAndNothingIsLeftPaused() {
        boot(SimXen.create(XenRelease.parse("4.17")));
        int pv = sim.addGuest(GuestSpec.pv("p", 1, 4096)).domid();
        assertThatThrownBy(() -> Monitor.enable(xen, vm, foreign, pv)).isInstanceOf(MonitorException.class)
                .hasMessageContaining("HVMOP_get_param").hasMessageContaining("EINVAL");
        assertThat(sim.domain(pv).orElseThrow().controllerPauseCount()).isZero();
    }

    @Test
    void anUnknownDomainIsNamed() {
        guest("4.17", 1);
        assertThatThrownBy(() -> Monitor.enable(xen, vm, foreign, 4321)).isInstanceOf(MonitorException.class)
                .hasMessageContaining("d4321").hasMessageContaining("ESRCH");
    }

    @Test
    void aFailedEnableDisablesTheRingAndUnmaps() {
        int d = guest("4.17", 1);
        int files = seam.openFileCount();
        sim.injectFault(SimCall.named("XEN_DOMCTL_vm_event_op", d), Errno.ENOMEM);
        assertThatThrownBy(() -> Monitor.enable(xen, vm, foreign, d)).isInstanceOf(MonitorException.class)
                .hasMessageContaining("ENOMEM");
        assertNothingLeft(d, files);
    }

    @Test
    void anEvtchnDeviceThatCannotBeOpenedUndoesTheEnabledRing() {
        int d = guest("4.17", 1, s -> new ForwardingSeam(s) {
            @Override
            public int open(String path, int flags) throws NativeException {
                if (path.equals(Linux.EVTCHN_DEVICE)) {
                    throw new NativeException("open(" + path + ")", Errno.ENOENT);
                }
                return super.open(path, flags);
            }
        });
        int files = seam.openFileCount();
        assertThatThrownBy(() -> Monitor.enable(xen, vm, foreign, d)).isInstanceOf(XenEnvironmentException.class)
                .hasMessageContaining(Linux.EVTCHN_DEVICE);
        assertNothingLeft(d, files);
        assertThat(sim.monitorPort(d)).isEqualTo(-1);
    }

    @Test
    void aFailedBindClosesTheHandleAndUndoesTheRing() {
        int d = guest("4.17", 1, s -> new ForwardingSeam(s) {
            @Override
            public int ioctl(int fd, int request, long arg) throws NativeException {
                if (request == Linux.IOCTL_EVTCHN_BIND_INTERDOMAIN) {
                    throw new NativeException("ioctl(IOCTL_EVTCHN_BIND_INTERDOMAIN)", Errno.ENOSPC);
                }
                return super.ioctl(fd, request, arg);
            }
        });
        int files = seam.openFileCount();
        assertThatThrownBy(() -> Monitor.enable(xen, vm, foreign, d)).isInstanceOf(MonitorException.class)
                .hasMessageContaining("IOCTL_EVTCHN_BIND_INTERDOMAIN").hasMessageContaining("ENOSPC")
                .hasMessageContaining("d" + d);
        assertNothingLeft(d, files);
    }

    @Test
    void aResponseIsTakenThroughTheEventChannelNotTheResumeDomctl() throws Exception {
        int d = guest("4.17", 2);
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            m.monitor(MonitorEvent.CPUID, true);
            sim.executeCpuid(d, 1, 0x7000, 0, 0);
            VmEventRequest r = m.next(Duration.ZERO).orElseThrow();
            sim.clearCalls();
            m.respond(VmEventResponse.resume(r).withRip(0x7002));
            assertThat(sim.vcpuPausedByVmEvent(d, 1)).as("Xen took the response on the notification").isFalse();
            assertThat(callNames()).as("no XEN_VM_EVENT_RESUME, nor any other hypercall").isEmpty();
        }
    }

    @Test
    void aRequestArrivingWhileNextWaitsIsSignalledEachTime() throws Exception {
        AtomicInteger polls = new AtomicInteger();
        AtomicInteger cpuids = new AtomicInteger(); // how many CPUIDs vCPU 0 is to execute at the next wait
        int[] domid = {-1};
        int d = guest("4.17", 1, onPoll(() -> {
            if (cpuids.get() > 0) {
                cpuids.decrementAndGet();
                sim.executeCpuid(domid[0], 0, 0x7000, 0, 0); // after next looked at the ring, before it waits
            }
            if (polls.incrementAndGet() > 20) {
                throw new AssertionError("next went on waiting: the notification was not delivered");
            }
        }));
        domid[0] = d;
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            m.monitor(MonitorEvent.CPUID, true);
            for (int round = 0; round < 3; round++) {
                polls.set(0);
                cpuids.set(1);
                VmEventRequest r = m.next(Duration.ofSeconds(10)).orElseThrow();
                assertThat(r.reasonName()).isEqualTo("cpuid");
                assertThat(cpuids.get()).as("the request came during the wait").isZero();
                m.respond(VmEventResponse.resume(r).withRip(0x7002));
            }
        }
    }

    @Test
    void anInterruptEndsAWaitingNext() throws Exception {
        AtomicInteger polls = new AtomicInteger();
        int d = guest("4.17", 1, onPoll(() -> {
            if (polls.incrementAndGet() > 20) {
                throw new AssertionError("next went on waiting after the interrupt");
            }
            Thread.currentThread().interrupt(); // as Ctrl-C's handler would, from another thread
        }));
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            assertThatThrownBy(() -> m.next(Duration.ofSeconds(10))).isInstanceOf(InterruptedException.class);
            assertThat(Thread.interrupted()).as("the flag is cleared, as usual").isFalse();
            assertThat(polls.get()).as("it did wait").isPositive();
        }
    }

    @Test
    void aWakeUpEndsAWaitingNextEmpty() throws Exception {
        AtomicInteger polls = new AtomicInteger();
        Monitor[] monitor = {null};
        int d = guest("4.17", 1, onPoll(() -> {
            if (polls.incrementAndGet() > 20) {
                throw new AssertionError("next went on waiting after the wake-up");
            }
            monitor[0].wakeUp();
        }));
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            monitor[0] = m;
            assertThat(m.next(Duration.ofSeconds(10))).isEmpty();
            assertThat(polls.get()).isPositive();
        }
    }

    @Test
    void aBreakpointEventIsDecodedAndAResponseResumesTheVcpu() throws Exception {
        int d = guest("4.17", 2);
        GuestMemory mem = new GuestMemory(new MappedPhysicalMemory(foreign, d));
        mem.writePhysical(0x5000, new byte[] {(byte) 0x90}, 0, 1);
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            m.monitor(MonitorEvent.SOFTWARE_BREAKPOINT, true);
            Breakpoints bps = new Breakpoints(mem, Breakpoints.Instruction.INT3, Breakpoints.Journal.NONE);
            bps.insert(0x5000);
            assertThat(sim.readGuestMemory(d, 0x5000, 1)[0]).isEqualTo(Breakpoints.Instruction.INT3.opcode());
            assertThat(m.next(Duration.ZERO)).isEmpty();
            assertThat(sim.executeBreakpoint(d, 1, 0x5000)).isTrue();
            VmEventRequest r = m.next(Duration.ZERO).orElseThrow();
            assertThat(r.reasonName()).isEqualTo("software_breakpoint");
            assertThat(r.vcpu()).isEqualTo(1);
            assertThat(r.rip()).isEqualTo(0x5000);
            assertThat(r.gfn()).isEqualTo(5);
            assertThat(r.insnLength()).isEqualTo(1);
            assertThat(r.version()).isEqualTo(Abi.forRelease(sim.release()).constant("VM_EVENT_INTERFACE_VERSION"));
            assertThat(sim.vcpuPausedByVmEvent(d, 1)).isTrue();
            bps.removeAll();
            m.respond(VmEventResponse.resume(r));
            assertThat(sim.vcpuPausedByVmEvent(d, 1)).isFalse();
            assertThat(sim.readGuestMemory(d, 0x5000, 1)[0]).isEqualTo((byte) 0x90);
        }
    }

    @Test
    void anIcebpBreakpointIsADebugExceptionOfTypePrivilegedSoftwareException() throws Exception {
        int d = guest("4.17", 2);
        GuestMemory mem = new GuestMemory(new MappedPhysicalMemory(foreign, d));
        mem.writePhysical(0x5000, new byte[] {(byte) 0x90}, 0, 1);
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            Breakpoints bps = new Breakpoints(mem, Breakpoints.Instruction.ICEBP, Breakpoints.Journal.NONE);
            m.monitor(bps.instruction().event(), true);
            bps.insert(0x5000);
            assertThat(sim.readGuestMemory(d, 0x5000, 1)[0]).isEqualTo((byte) 0xf1);
            assertThat(sim.executeIcebp(d, 1, 0x5000)).as("synchronous: the vCPU waits").isTrue();
            VmEventRequest r = m.next(Duration.ZERO).orElseThrow();
            assertThat(r.reasonName()).isEqualTo("debug_exception");
            assertThat(r.vcpu()).isEqualTo(1);
            assertThat(r.rip()).isEqualTo(0x5000);
            assertThat(r.gfn()).isEqualTo(5);
            assertThat(r.insnLength()).isEqualTo(1);
            assertThat(r.trapType()).isEqualTo(5); // X86_EVENTTYPE_PRI_SW_EXCEPTION
            bps.removeAll();
            m.respond(VmEventResponse.resume(r));
            assertThat(sim.vcpuPausedByVmEvent(d, 1)).isFalse();
            assertThat(sim.readGuestMemory(d, 0x5000, 1)[0]).isEqualTo((byte) 0x90);
        }
        assertThat(sim.monitorEvents(d)).as("DEBUG_EXCEPTION switched off by close").isZero();
    }

    @Test
    void reinjectGivesTheGuestItsOwnExceptionAsXenReportedIt() throws Exception {
        int d = guest("4.17", 2);
        sim.writeGuestMemory(d, 0x6000, new byte[] {(byte) 0xcc});
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            m.monitor(MonitorEvent.DEBUG_EXCEPTION, true);
            m.monitor(MonitorEvent.SOFTWARE_BREAKPOINT, true);
            m.monitor(MonitorEvent.CPUID, true);
            sim.executeDebugTrap(d, 0, 0x7000, 0x4000); // DR6.BS: the guest single-steps itself
            VmEventRequest db = m.next(Duration.ZERO).orElseThrow();
            assertThat(db.trapType()).isEqualTo(3); // X86_EVENTTYPE_HW_EXCEPTION
            assertThat(db.pendingDbg()).isEqualTo(0x4000);
            m.reinject(db);
            assertThat(sim.pendingInjection(d, 0)).hasValueSatisfying(e -> assertThat(e).containsExactly(1, 3, 0, 0x4000));
            m.respond(VmEventResponse.resume(db));
            sim.executeBreakpoint(d, 1, 0x6000);
            VmEventRequest bp = m.next(Duration.ZERO).orElseThrow();
            m.reinject(bp);
            assertThat(sim.pendingInjection(d, 1)).hasValueSatisfying(e -> assertThat(e).containsExactly(3, 6, 1, 0));
            m.respond(VmEventResponse.resume(bp));
            sim.executeCpuid(d, 0, 0x7000, 1, 0);
            VmEventRequest cpuid = m.next(Duration.ZERO).orElseThrow();
            assertThatThrownBy(() -> m.reinject(cpuid)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cpuid request carries no exception");
        }
    }

    @Test
    void aCpuidEventCarriesItsLeaf() throws Exception {
        int d = guest("4.17", 1);
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            m.monitor(MonitorEvent.CPUID, true);
            sim.executeCpuid(d, 0, 0x7000, 0x4000_0000, 2);
            VmEventRequest r = m.next(Duration.ZERO).orElseThrow();
            assertThat(r.reasonName()).isEqualTo("cpuid");
            assertThat(r.cpuidLeaf()).isEqualTo(0x4000_0000L);
            assertThat(r.cpuidSubleaf()).isEqualTo(2);
            m.respond(VmEventResponse.resume(r).withRip(0x7002));
            assertThat(sim.vcpuPausedByVmEvent(d, 0)).isFalse();
        }
    }

    @Test
    void singlesteppingOverABreakpointWhereOfferedAndRefusedOnAmd() throws Exception {
        int d = guest("4.17", 1);
        GuestMemory mem = new GuestMemory(new MappedPhysicalMemory(foreign, d));
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            assertThat(m.offers(MonitorEvent.SINGLESTEP)).isTrue();
            m.monitor(MonitorEvent.SOFTWARE_BREAKPOINT, true);
            m.monitor(MonitorEvent.SINGLESTEP, true);
            Breakpoints bps = new Breakpoints(mem, Breakpoints.Instruction.INT3, Breakpoints.Journal.NONE);
            bps.insert(0x6000);
            sim.executeBreakpoint(d, 0, 0x6000);
            VmEventRequest hit = m.next(Duration.ZERO).orElseThrow();
            bps.lift(0x6000);
            m.respond(VmEventResponse.resume(hit).withToggleSinglestep());
            assertThat(sim.singlestepping(d, 0)).isTrue();
            assertThat(sim.executeSinglestep(d, 0, 0x6001)).isTrue();
            VmEventRequest step = m.next(Duration.ZERO).orElseThrow();
            assertThat(step.reasonName()).isEqualTo("singlestep");
            bps.reinsert(0x6000);
            m.respond(VmEventResponse.resume(step).withToggleSinglestep());
            assertThat(sim.singlestepping(d, 0)).isFalse();
            assertThat(sim.readGuestMemory(d, 0x6000, 1)[0]).isEqualTo(Breakpoints.Instruction.INT3.opcode());
            bps.removeAll();
        }
        close();
        boot(SimXen.builder(XenRelease.parse("4.17")).cpuVendor(SimXen.CpuVendor.AMD).build());
        int amd = sim.addGuest(GuestSpec.hvm("g", 1, 4096)).domid();
        try (Monitor m = Monitor.enable(xen, vm, foreign, amd)) {
            assertThat(m.offers(MonitorEvent.SINGLESTEP)).isFalse();
            assertThatThrownBy(() -> m.monitor(MonitorEvent.SINGLESTEP, true)).isInstanceOf(MonitorException.class)
                    .hasMessageContaining("does not offer XEN_DOMCTL_MONITOR_EVENT_SINGLESTEP");
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#withVmEventForkReset")
    void aResponseResetsAForkWhereTheReleaseHasTheFlags(String release) throws Exception {
        int parent = guest(release, 1);
        Abi abi = Abi.forRelease(sim.release());
        int child = xen.createDomain(0, new DomainConfig(0, null, abi.constant("XEN_DOMCTL_CDF_hvm")
                | abi.constant("XEN_DOMCTL_CDF_hap"), 0, 1, 1023, 32, 1024, 2, 0, 0,
                xen.domainInfo(parent).emulationFlags(), 0));
        xen.pauseDomain(parent);
        xen.fork(parent, child, 0);
        xen.unpauseDomain(child);
        sim.writeGuestMemory(child, 0x8000, new byte[] {(byte) 0xcc});
        assertThat(sim.domain(child).orElseThrow().totPages()).isPositive();
        try (Monitor m = Monitor.enable(xen, vm, foreign, child)) {
            assertThat(m.canResetFork()).isTrue();
            m.monitor(MonitorEvent.SOFTWARE_BREAKPOINT, true);
            sim.executeBreakpoint(child, 0, 0x8000);
            VmEventRequest r = m.next(Duration.ZERO).orElseThrow();
            m.respond(VmEventResponse.resume(r).withForkReset(true, true));
            assertThat(sim.readGuestMemory(child, 0x8000, 1)[0]).as("the fork's page was dropped: the parent's byte")
                    .isEqualTo(sim.readGuestMemory(parent, 0x8000, 1)[0]);
            assertThat(sim.vcpuPausedByVmEvent(child, 0)).isFalse();
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#withoutVmEventForkReset")
    void aForkResetResponseIsRefusedBefore417(String release) throws Exception {
        int d = guest(release, 1);
        sim.writeGuestMemory(d, 0x8000, new byte[] {(byte) 0xcc});
        try (Monitor m = Monitor.enable(xen, vm, foreign, d)) {
            assertThat(m.canResetFork()).isFalse();
            m.monitor(MonitorEvent.SOFTWARE_BREAKPOINT, true);
            sim.executeBreakpoint(d, 0, 0x8000);
            VmEventRequest r = m.next(Duration.ZERO).orElseThrow();
            assertThatThrownBy(() -> m.respond(VmEventResponse.resume(r).withForkReset(true, false)))
                    .isInstanceOf(MonitorException.class).hasMessageContaining("came with 4.17");
            assertThat(sim.vcpuPausedByVmEvent(d, 0)).as("nothing was answered").isTrue();
        }
        assertThat(sim.vcpuPausedByVmEvent(d, 0)).as("close answered it").isFalse();
    }

    @Test
    void closeAnswersPendingRequestsSwitchesEventsOffDisablesAndUnmaps() throws Exception {
        int d = guest("4.17", 1);
        int files = seam.openFileCount();
        sim.writeGuestMemory(d, 0x9000, new byte[] {(byte) 0xcc});
        Monitor m = Monitor.enable(xen, vm, foreign, d);
        int ours = dom0Port(d, m);
        m.monitor(MonitorEvent.SOFTWARE_BREAKPOINT, true);
        sim.executeBreakpoint(d, 0, 0x9000);
        m.close();
        assertThat(sim.eventChannel(0, ours)).as("dom0's end unbound and closed").isEmpty();
        assertThat(seam.openFileCount()).as("the evtchn handle closed").isEqualTo(files);
        assertThat(sim.vcpuPausedByVmEvent(d, 0)).isFalse();
        assertThat(sim.monitorEvents(d)).isZero();
        assertThat(sim.monitorRingEnabled(d)).isFalse();
        assertThat(seam.privcmdMappingCount()).isZero();
        assertThatThrownBy(() -> m.next(Duration.ZERO)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void closeAttemptsEveryStepAndNamesTheFirstFailure() {
        int d = guest("4.17", 1);
        int files = seam.openFileCount();
        Monitor m = Monitor.enable(xen, vm, foreign, d);
        int ours = dom0Port(d, m);
        m.monitor(MonitorEvent.CPUID, true);
        sim.injectFault(SimCall.named("XEN_DOMCTL_monitor_op", d), Errno.EIO);
        assertThatThrownBy(m::close).isInstanceOf(MonitorException.class).hasMessageContaining("EIO")
                .hasMessageContaining("--cleanup " + d);
        assertThat(sim.monitorRingEnabled(d)).as("disabled after the failed step").isFalse();
        assertThat(sim.eventChannel(0, ours)).as("unbound after the failed step").isEmpty();
        assertThat(seam.openFileCount()).isEqualTo(files);
        assertThat(seam.privcmdMappingCount()).isZero();
    }

    @Test
    void closeUnbindsAndClosesTheHandleEvenWhenXenRefusesTheResumeAndTheDisable() {
        int d = guest("4.17", 1);
        int files = seam.openFileCount();
        Monitor m = Monitor.enable(xen, vm, foreign, d);
        int ours = dom0Port(d, m);
        sim.injectFault(SimCall.named("XEN_DOMCTL_vm_event_op", d), Errno.EIO, 2);
        assertThatThrownBy(m::close).isInstanceOf(MonitorException.class).hasMessageContaining("EIO");
        assertThat(sim.eventChannel(0, ours)).isEmpty();
        assertThat(seam.openFileCount()).isEqualTo(files);
        assertThat(seam.privcmdMappingCount()).isZero();
        assertThat(sim.eventChannel(d, m.xenPort()).orElseThrow().state()).as("Xen's port, free to bind again")
                .isEqualTo(SimEventChannel.State.UNBOUND);
        vm.monitorDisable(d);
    }

    @Test
    void aBreakpointAtAnUnbackedAddressIsRefusedBeforeAnythingIsRecorded() {
        int d = guest("4.17", 1);
        List<Long> journal = new ArrayList<>();
        Breakpoints bps = new Breakpoints(new GuestMemory(new MappedPhysicalMemory(foreign, d)),
                Breakpoints.Instruction.ICEBP, new Breakpoints.Journal() {
                    @Override
                    public void inserting(long address, byte original) {
                        journal.add(address);
                    }

                    @Override
                    public void removed(long address) {
                        journal.remove(address);
                    }
                });
        assertThatThrownBy(() -> bps.insert(0x4000_0000L)).isInstanceOf(GuestMemoryException.class)
                .hasMessageContaining("0x40000000");
        assertThat(journal).isEmpty();
        assertThat(bps.originals()).isEmpty();
    }
}
