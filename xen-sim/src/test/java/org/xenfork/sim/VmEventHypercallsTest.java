package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.VmEventHypercalls;
import org.xenfork.privcmd.VmEventHypercalls.MonitorEvent;
import org.xenfork.privcmd.XenException;

/**
 * privcmd's {@link VmEventHypercalls} against the simulator: each call's encoding read back by the
 * simulated Xen, and each rule and errno of vm_event.c, monitor.c, memory.c, hvm.c and dm.c the
 * simulator models.
 */
class VmEventHypercallsTest {
    private static final long RING_GFN = 0xfeff9;

    record Machine(SimXen sim, Privcmd privcmd, Hypervisor xen, VmEventHypercalls vm) implements AutoCloseable {
        static Machine of(SimXen sim) {
            Privcmd p = Privcmd.open(new SimulatedSeam(sim));
            Hypervisor xen = Hypervisor.open(p, null, null, false);
            return new Machine(sim, p, xen, VmEventHypercalls.open(xen));
        }

        static Machine of(String release) {
            return of(SimXen.create(XenRelease.parse(release)));
        }

        long constant(String name) {
            return Abi.forRelease(sim.release()).constant(name);
        }

        @Override
        public void close() {
            vm.close();
            xen.close();
            privcmd.close();
        }
    }

    private static int errno(Runnable call) {
        try {
            call.run();
        } catch (XenException e) {
            return e.errno();
        }
        throw new AssertionError("the call succeeded");
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void getVersionAnswersTheReleasesInterfaceVersion(String release) {
        try (Machine m = Machine.of(release)) {
            assertThat(m.vm().vmEventInterfaceVersion()).isEqualTo(m.constant("VM_EVENT_INTERFACE_VERSION"));
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void capabilitiesAreXensForTheVendorAndRelease(String release) {
        SimXen intel = SimXen.create(XenRelease.parse(release));
        SimXen amd = SimXen.builder(XenRelease.parse(release)).cpuVendor(SimXen.CpuVendor.AMD).build();
        try (Machine i = Machine.of(intel); Machine a = Machine.of(amd)) {
            int ih = i.vm().monitorCapabilities(intel.addGuest(GuestSpec.hvm("g", 1, 1024)).domid());
            int ah = a.vm().monitorCapabilities(amd.addGuest(GuestSpec.hvm("g", 1, 1024)).domid());
            int pv = i.vm().monitorCapabilities(intel.addGuest(GuestSpec.pv("p", 1, 1024)).domid());
            for (MonitorEvent e : MonitorEvent.values()) {
                assertThat(i.vm().offers(ih, e)).as(e + " on Intel").isTrue();
                assertThat(a.vm().offers(ah, e)).as(e + " on AMD").isEqualTo(e != MonitorEvent.SINGLESTEP);
            }
            assertThat(pv).isZero();
            // VMEXIT is offered where the release declares it (4.17's vm_event_vmexit), and no bit is set that
            // the release has no XEN_DOMCTL_MONITOR_EVENT_* for
            org.xenfork.abi.Abi abi = org.xenfork.abi.Abi.forRelease(XenRelease.parse(release));
            abi.findConstant("XEN_DOMCTL_MONITOR_EVENT_VMEXIT").ifPresent(bit -> assertThat(ih & (1 << bit)).as("VMEXIT").isNotZero());
            int declared = abi.constants().entrySet().stream()
                    .filter(e -> e.getKey().startsWith("XEN_DOMCTL_MONITOR_EVENT_") && e.getValue() < 32)
                    .mapToInt(e -> 1 << e.getValue()).reduce(0, (x, y) -> x | y);
            assertThat(ih & ~declared).as("events the release does not declare").isZero();
            assertThat(ih & ~ah).isEqualTo(1 << i.constant("XEN_DOMCTL_MONITOR_EVENT_SINGLESTEP"));
        }
    }

    @Test
    void theRingParamIsAnHvmSpecialPageAndPvHasNone() {
        try (Machine m = Machine.of("4.17")) {
            int hvm = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            int pvh = m.sim().addGuest(GuestSpec.pvh("h", 1, 1024)).domid();
            int pv = m.sim().addGuest(GuestSpec.pv("p", 1, 1024)).domid();
            int param = (int) m.constant("HVM_PARAM_MONITOR_RING_PFN");
            assertThat(m.vm().hvmParam(hvm, param)).isEqualTo(RING_GFN);
            assertThat(m.vm().hvmParam(pvh, param)).isEqualTo(RING_GFN);
            assertThat(errno(() -> m.vm().hvmParam(pv, param))).isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> m.vm().hvmParam(hvm, 39))).isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> m.vm().hvmParam(4321, param))).isEqualTo(Errno.ESRCH);
        }
    }

    @Test
    void populateAndDecreaseMoveOnePageInAndOutOfThePhysmap() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            long xtab = m.constant("XEN_DOMCTL_PFINFO_XTAB");
            assertThat(m.vm().pageType(d, RING_GFN)).isEqualTo(xtab);
            m.vm().populatePhysmap(d, RING_GFN);
            assertThat(m.sim().inPhysmap(d, RING_GFN)).isTrue();
            assertThat(m.vm().pageType(d, RING_GFN)).isZero();
            assertThat(m.vm().pageType(d, 0x10)).isZero();
            m.vm().decreaseReservation(d, RING_GFN);
            assertThat(m.sim().inPhysmap(d, RING_GFN)).isFalse();
            assertThat(m.vm().pageType(d, RING_GFN)).isEqualTo(xtab);
            assertThatThrownBy(() -> m.vm().decreaseReservation(d, RING_GFN)).isInstanceOf(XenException.class)
                    .hasMessageContaining("0 of 1 extents at gfn 0xfeff9");
            assertThat(errno(() -> m.vm().populatePhysmap(4321, RING_GFN))).isEqualTo(Errno.ESRCH);
            assertThatThrownBy(() -> m.vm().populatePhysmap(d, -1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("gfn");
        }
    }

    @Test
    void enableNeedsARingPageAndOneAgentAtATime() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            assertThat(errno(() -> m.vm().monitorEnable(d))).as("no page at the gfn").isEqualTo(Errno.EINVAL);
            m.vm().populatePhysmap(d, RING_GFN);
            int port = m.vm().monitorEnable(d);
            assertThat(port).isPositive().isEqualTo(m.sim().monitorPort(d));
            assertThat(m.sim().monitorRingEnabled(d)).isTrue();
            XenException busy = (XenException) catchXen(() -> m.vm().monitorEnable(d));
            assertThat(busy.errno()).isEqualTo(Errno.EBUSY);
            assertThat(busy).hasMessageContaining("--cleanup");
            m.vm().monitorResume(d);
            m.vm().monitorDisable(d);
            assertThat(m.sim().monitorRingEnabled(d)).isFalse();
            assertThat(errno(() -> m.vm().monitorDisable(d))).isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> m.vm().monitorResume(d))).isEqualTo(Errno.ENODEV);
        }
    }

    @Test
    void enableRefusesPvTheCallerItselfAndUnknownDomains() {
        try (Machine m = Machine.of("4.17")) {
            int pv = m.sim().addGuest(GuestSpec.pv("p", 1, 1024)).domid();
            int hvm = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.sim().setMonitorRingGfn(hvm, 0);
            assertThat(errno(() -> m.vm().monitorEnable(pv))).isEqualTo(Errno.EOPNOTSUPP);
            assertThat(errno(() -> m.vm().monitorEnable(hvm))).as("param 0").isEqualTo(Errno.EOPNOTSUPP);
            assertThat(errno(() -> m.vm().monitorEnable(0))).isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> m.vm().monitorEnable(4321))).isEqualTo(Errno.ESRCH);
        }
    }

    @Test
    void enableRefusesAPagedOutRingPage() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.vm().populatePhysmap(d, RING_GFN);
            m.sim().pageOut(d, RING_GFN, 5);
            assertThat(errno(() -> m.vm().monitorEnable(d))).isEqualTo(Errno.ENOENT);
        }
    }

    @Test
    void monitorEventsSwitchOnceAndOnlyWhereOffered() {
        SimXen amd = SimXen.builder(XenRelease.parse("4.17")).cpuVendor(SimXen.CpuVendor.AMD).build();
        try (Machine m = Machine.of(amd)) {
            int d = amd.addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            int pv = amd.addGuest(GuestSpec.pv("p", 1, 1024)).domid();
            m.vm().monitorEvent(d, MonitorEvent.SOFTWARE_BREAKPOINT, true);
            m.vm().monitorEvent(d, MonitorEvent.CPUID, true);
            int bp = 1 << m.constant("XEN_DOMCTL_MONITOR_EVENT_SOFTWARE_BREAKPOINT");
            int cpuid = 1 << m.constant("XEN_DOMCTL_MONITOR_EVENT_CPUID");
            assertThat(amd.monitorEvents(d)).isEqualTo(bp | cpuid);
            assertThat(errno(() -> m.vm().monitorEvent(d, MonitorEvent.SOFTWARE_BREAKPOINT, true)))
                    .isEqualTo(Errno.EEXIST);
            assertThat(errno(() -> m.vm().monitorEvent(d, MonitorEvent.SINGLESTEP, true)))
                    .as("AMD: no singlestep").isEqualTo(Errno.EOPNOTSUPP);
            assertThat(errno(() -> m.vm().monitorEvent(pv, MonitorEvent.CPUID, true))).isEqualTo(Errno.EOPNOTSUPP);
            assertThat(errno(() -> m.vm().monitorEvent(0, MonitorEvent.CPUID, true))).isEqualTo(Errno.EPERM);
            m.vm().monitorEvent(d, MonitorEvent.CPUID, false);
            assertThat(errno(() -> m.vm().monitorEvent(d, MonitorEvent.CPUID, false))).isEqualTo(Errno.EEXIST);
            m.vm().monitorGuestRequest(d, true, true, false);
            m.vm().monitorWriteCtrlreg(d, 1, true, true, true, 0);
            m.vm().monitorWriteCtrlreg(d, 2, true, true, true, 0); // another register: its own state
            assertThat(errno(() -> m.vm().monitorWriteCtrlreg(d, 1, true, true, true, 0))).isEqualTo(Errno.EEXIST);
            assertThatThrownBy(() -> m.vm().monitorWriteCtrlreg(d, 4, true, true, true, 0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("index 4");
        }
    }

    @Test
    void writeCtrlregRefusesNonZeroPadsBeforeAnythingElse() throws Exception {
        SimClient c = SimClient.of("4.17");
        int d = c.xen.addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
        java.util.Map<String, Object> op = new java.util.HashMap<>(java.util.Map.of(
                "u.monitor_op.op", c.constant("XEN_DOMCTL_MONITOR_OP_ENABLE"),
                "u.monitor_op.event", c.constant("XEN_DOMCTL_MONITOR_EVENT_WRITE_CTRLREG"),
                "u.monitor_op.u.mov_to_cr.index", 1));
        op.put("u.monitor_op.u.mov_to_cr.pad2", 1);
        assertThat(c.domctl("monitor_op", d, op).errno()).isEqualTo(Errno.EINVAL);
        op.put("u.monitor_op.u.mov_to_cr.pad2", 0);
        assertThat(c.domctl("monitor_op", d, op).ok()).isTrue();
        assertThat(c.xen.monitorEvents(d)).as("per-register state, not the event bit").isZero();
    }

    @Test
    void disablingTheRingSwitchesEveryEventOff() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.vm().populatePhysmap(d, RING_GFN);
            m.vm().monitorEnable(d);
            m.vm().monitorEvent(d, MonitorEvent.SOFTWARE_BREAKPOINT, true);
            m.vm().monitorDisable(d);
            assertThat(m.sim().monitorEvents(d)).isZero();
            m.vm().monitorEvent(d, MonitorEvent.SOFTWARE_BREAKPOINT, true); // no EEXIST: it was switched off
        }
    }

    @Test
    void aMonitoredBreakpointPausesTheVcpuAndNotifiesAndAnUnmonitoredOneDoesNot() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 2, 1024)).domid();
            m.sim().writeGuestMemory(d, 0x1000, new byte[] {(byte) 0xcc});
            assertThat(m.sim().executeBreakpoint(d, 0, 0x1000)).as("no ring").isFalse();
            m.vm().populatePhysmap(d, RING_GFN);
            m.vm().monitorEnable(d);
            assertThat(m.sim().executeBreakpoint(d, 0, 0x1000)).as("event off").isFalse();
            m.vm().monitorEvent(d, MonitorEvent.SOFTWARE_BREAKPOINT, true);
            assertThat(m.sim().executeBreakpoint(d, 1, 0x1000)).isTrue();
            assertThat(m.sim().vcpuPausedByVmEvent(d, 1)).isTrue();
            assertThat(m.sim().vcpuPausedByVmEvent(d, 0)).isFalse();
            assertThat(m.sim().monitorNotifications(d)).isEqualTo(1);
            assertThatThrownBy(() -> m.sim().executeBreakpoint(d, 1, 0x1000)).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> m.sim().executeBreakpoint(d, 0, 0x2000))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not an int3");
        }
    }

    @Test
    void anIcebpPausesItsVcpuOnlyWhenDebugExceptionsAreMonitoredSynchronously() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 2, 1024)).domid();
            m.sim().writeGuestMemory(d, 0x1000, new byte[] {(byte) 0xf1});
            m.vm().populatePhysmap(d, RING_GFN);
            m.vm().monitorEnable(d);
            assertThat(m.sim().executeIcebp(d, 0, 0x1000)).as("event off").isFalse();
            assertThat(m.sim().monitorNotifications(d)).isZero();
            assertThatThrownBy(() -> m.vm().monitorEvent(d, MonitorEvent.DEBUG_EXCEPTION, true))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("monitorDebugException");
            m.vm().monitorDebugException(d, true, false);
            assertThat(m.sim().executeIcebp(d, 0, 0x1000)).as("asynchronous: the guest takes its #DB").isFalse();
            assertThat(m.sim().vcpuPausedByVmEvent(d, 0)).isFalse();
            assertThat(m.sim().monitorNotifications(d)).as("but the request was sent").isEqualTo(1);
            assertThat(errno(() -> m.vm().monitorDebugException(d, true, true))).isEqualTo(Errno.EEXIST);
            m.vm().monitorDebugException(d, false, false);
            m.vm().monitorDebugException(d, true, true);
            assertThat(m.sim().executeIcebp(d, 1, 0x1000)).isTrue();
            assertThat(m.sim().vcpuPausedByVmEvent(d, 1)).isTrue();
            assertThat(m.sim().monitorNotifications(d)).isEqualTo(2);
            m.sim().writeGuestMemory(d, 0x2000, new byte[] {(byte) 0xcc});
            assertThatThrownBy(() -> m.sim().executeIcebp(d, 0, 0x2000))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not an icebp");
        }
    }

    @Test
    void xenDropsAResponseOfAnotherVersionAndTakesItsOwn() throws Exception {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.sim().writeGuestMemory(d, 0x1000, new byte[] {(byte) 0xcc});
            m.vm().populatePhysmap(d, RING_GFN);
            Abi abi = Abi.forRelease(m.sim().release());
            org.xenfork.abi.StructLayout sring = abi.struct("vm_event_sring");
            org.xenfork.abi.StructLayout req = abi.struct("vm_event_request_t");
            int slot0 = sring.field("ring").orElseThrow().offset();
            try (org.xenfork.privcmd.ForeignMapping page = new org.xenfork.privcmd.ForeignMemory(m.privcmd())
                    .map(d, org.xenfork.privcmd.Linux.PROT_READ | org.xenfork.privcmd.Linux.PROT_WRITE, RING_GFN)) {
                m.vm().monitorEnable(d);
                m.vm().monitorEvent(d, MonitorEvent.SOFTWARE_BREAKPOINT, true);
                m.sim().executeBreakpoint(d, 0, 0x1000);
                byte[] request = new byte[req.size()];
                page.read(slot0, request, 0, request.length);
                assertThat(req.leaf("version").read(request, 0)).isEqualTo(m.constant("VM_EVENT_INTERFACE_VERSION"));
                byte[] header = new byte[slot0];
                // A response of version 6 (4.14's) in slot 0: dropped, the vCPU waits on.
                req.leaf("version").write(request, 0, 6);
                page.write(slot0, request, 0, request.length);
                sring.leaf("rsp_prod").write(header, 0, 1);
                page.write(sring.leaf("rsp_prod").offset(), header, sring.leaf("rsp_prod").offset(), 4);
                m.vm().monitorResume(d);
                assertThat(m.sim().vcpuPausedByVmEvent(d, 0)).isTrue();
                // The same answer in the release's version, in slot 1: the vCPU runs.
                req.leaf("version").write(request, 0, m.constant("VM_EVENT_INTERFACE_VERSION"));
                page.write(slot0 + req.size(), request, 0, request.length);
                sring.leaf("rsp_prod").write(header, 0, 2);
                page.write(sring.leaf("rsp_prod").offset(), header, sring.leaf("rsp_prod").offset(), 4);
                m.vm().monitorResume(d);
                assertThat(m.sim().vcpuPausedByVmEvent(d, 0)).isFalse();
            }
        }
    }

    @Test
    void theRingsPortIsXensOwnUnboundForDom0AndFreedByDisable() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.vm().populatePhysmap(d, RING_GFN);
            int port = m.vm().monitorEnable(d);
            // vm_event_enable: alloc_unbound_xen_event_channel(d, 0, current->domain->domain_id, monitor_notification)
            assertThat(m.sim().eventChannel(d, port)).hasValue(new SimEventChannel(d, port,
                    SimEventChannel.State.UNBOUND, 0, -1, false, false, true));
            try (org.xenfork.privcmd.Evtchn evtchn = m.vm().openEvtchn()) {
                int local = evtchn.bindInterdomain(d, port);
                assertThat(m.sim().eventChannel(d, port).orElseThrow().state()).isEqualTo(SimEventChannel.State.INTERDOMAIN);
                m.vm().monitorDisable(d);
                // vm_event_disable: free_xen_event_channel; dom0's end is left unbound, for d, and can be unbound
                assertThat(m.sim().eventChannel(d, port)).isEmpty();
                SimEventChannel ours = m.sim().eventChannel(0, local).orElseThrow();
                assertThat(ours.state()).isEqualTo(SimEventChannel.State.UNBOUND);
                assertThat(ours.remoteDomid()).isEqualTo(d);
                evtchn.unbind(local);
                assertThat(m.sim().eventChannel(0, local)).isEmpty();
            }
        }
    }

    @Test
    void aRequestNotifiesTheBoundPortAndItsNotificationMakesXenTakeTheResponses() throws Exception {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.sim().writeGuestMemory(d, 0x1000, new byte[] {(byte) 0xcc});
            m.vm().populatePhysmap(d, RING_GFN);
            Abi abi = Abi.forRelease(m.sim().release());
            org.xenfork.abi.StructLayout sring = abi.struct("vm_event_sring");
            org.xenfork.abi.StructLayout req = abi.struct("vm_event_request_t");
            int slot0 = sring.field("ring").orElseThrow().offset();
            try (org.xenfork.privcmd.ForeignMapping page = new org.xenfork.privcmd.ForeignMemory(m.privcmd())
                    .map(d, org.xenfork.privcmd.Linux.PROT_READ | org.xenfork.privcmd.Linux.PROT_WRITE, RING_GFN);
                 org.xenfork.privcmd.Evtchn evtchn = m.vm().openEvtchn()) {
                int port = m.vm().monitorEnable(d);
                int local = evtchn.bindInterdomain(d, port);
                assertThat(evtchn.pending()).as("the bind's own delivery").containsExactly(local);
                evtchn.unmask(local);
                assertThat(evtchn.pending()).isEmpty();
                m.vm().monitorEvent(d, MonitorEvent.SOFTWARE_BREAKPOINT, true);
                m.sim().executeBreakpoint(d, 0, 0x1000);
                // vm_event_put_request ends with notify_via_xen_event_channel
                assertThat(evtchn.pending()).containsExactly(local);
                byte[] response = new byte[req.size()];
                page.read(slot0, response, 0, response.length);
                page.write(slot0, response, 0, response.length); // the request echoed: VCPU_PAUSED, same vCPU
                byte[] header = new byte[slot0];
                sring.leaf("rsp_prod").write(header, 0, 1);
                page.write(sring.leaf("rsp_prod").offset(), header, sring.leaf("rsp_prod").offset(), 4);
                m.sim().clearCalls();
                evtchn.notifyRemote(local); // evtchn_send -> monitor_notification -> vm_event_resume
                assertThat(m.sim().vcpuPausedByVmEvent(d, 0)).isFalse();
                assertThat(m.sim().calls()).as("no domctl: the notification alone").isEmpty();
            }
        }
    }

    @Test
    void enableFailsWithEnospcWithoutAFreePortAndLeavesNoRing() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.vm().populatePhysmap(d, RING_GFN);
            for (int p = 1; p < EventChannels.TWO_LEVEL_PORTS; p++) {
                m.sim().guestAllocUnbound(d, 0);
            }
            assertThat(errno(() -> m.vm().monitorEnable(d))).isEqualTo(Errno.ENOSPC);
            assertThat(m.sim().monitorRingEnabled(d)).isFalse();
        }
    }

    @Test
    void injectEventQueuesOneEventPerVcpuWithItsVectorTypeLengthAndCr2() {
        try (Machine m = Machine.of("4.17")) {
            int d = m.sim().addGuest(GuestSpec.hvm("g", 2, 1024)).domid();
            int pv = m.sim().addGuest(GuestSpec.pv("p", 1, 1024)).domid();
            int swExc = (int) m.constant("XEN_DMOP_EVENT_sw_exc");
            int hwExc = (int) m.constant("XEN_DMOP_EVENT_hw_exc");
            m.vm().injectEvent(d, 1, 3, swExc, 1, 0);
            assertThat(m.sim().pendingInjection(d, 1)).hasValueSatisfying(e -> assertThat(e).containsExactly(3, swExc, 1, 0));
            m.vm().injectEvent(d, 0, 1, hwExc, 0, 0x4001);
            assertThat(m.sim().pendingInjection(d, 0)).hasValueSatisfying(e -> assertThat(e).containsExactly(1, hwExc, 0, 0x4001));
            assertThat(errno(() -> m.vm().injectEvent(d, 1, 3, swExc, 1, 0))).isEqualTo(Errno.EBUSY);
            assertThat(errno(() -> m.vm().injectEvent(d, 2, 3, swExc, 1, 0))).isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> m.vm().injectEvent(pv, 0, 3, swExc, 1, 0))).isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> m.vm().injectEvent(4321, 0, 3, swExc, 1, 0))).isEqualTo(Errno.ESRCH);
            assertThat(errno(() -> m.vm().injectEvent(0, 0, 3, swExc, 1, 0))).isEqualTo(Errno.EPERM);
            assertThatThrownBy(() -> m.vm().injectEvent(d, 0, 256, swExc, 1, 0)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("vector 256");
            assertThatThrownBy(() -> m.vm().injectEvent(d, 0, 3, swExc, 16, 0)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("insn_len 16");
        }
    }

    @Test
    void aForkInheritsTheRingParam() {
        try (Machine m = Machine.of("4.17")) {
            int parent = m.sim().addGuest(GuestSpec.hvm("g", 1, 1024)).domid();
            m.sim().setMonitorRingGfn(parent, 0xabc);
            int child = m.xen().createDomain(0, new org.xenfork.privcmd.DomainConfig(0, null,
                    m.constant("XEN_DOMCTL_CDF_hvm") | m.constant("XEN_DOMCTL_CDF_hap"), 0, 1, 1023, 32, 1024, 2, 0, 0,
                    m.xen().domainInfo(parent).emulationFlags(), 0));
            m.xen().pauseDomain(parent);
            m.xen().fork(parent, child, 0);
            assertThat(m.vm().hvmParam(child, (int) m.constant("HVM_PARAM_MONITOR_RING_PFN"))).isEqualTo(0xabc);
        }
    }

    private static Throwable catchXen(Runnable r) {
        try {
            r.run();
        } catch (XenException e) {
            return e;
        }
        throw new AssertionError("the call succeeded");
    }
}
