package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.VmEventHypercalls;
import org.xenfork.privcmd.VmEventHypercalls.MonitorEvent;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;
import org.xenfork.vmi.Breakpoints;

/**
 * {@code xenfork monitor} on the simulator. A guest's vCPU meeting a breakpoint or a CPUID is the
 * simulator's {@link SimXen#executeIcebp}, {@link SimXen#executeBreakpoint} (int3) or
 * {@link SimXen#executeCpuid}, run from an
 * {@link SimXen#afterCall} hook at the moment the command lets the paused domain run (its
 * unpausedomain), or from an {@link SimXen#afterMonitorResume} hook once Xen took an answer, so each
 * test is one thread and one order of events (but the signal during a wait, which comes from another).
 */
class MonitorCommandTest extends CommandRunner {
    private static final int PARENT = 1; // paused, HVM, 64 MiB
    private static final int WEB = 2;    // running
    private static final long AT = 0x5000;
    private static final byte ORIGINAL = (byte) 0x90;

    @TempDir
    Path records;

    private SimXen machine;

    @BeforeEach
    void machine() {
        machine = parentAndWeb(XenRelease.parse("4.17"));
        monitorRecords = records;
        machine.writeGuestMemory(PARENT, AT, new byte[] {ORIGINAL});
    }

    private Run monitor(String... args) {
        return monitor(r -> machine, args);
    }

    private Run monitor(Function<XenRelease, SimXen> factory, String... args) {
        String[] all = new String[args.length + 3];
        all[0] = "--backend";
        all[1] = "sim";
        all[2] = "monitor";
        System.arraycopy(args, 0, all, 3, args.length);
        return xenfork(factory, all);
    }

    /** Runs {@code action} when the command lets {@code domid} run: its second unpausedomain (the first is enable's). */
    private static void whenLetRun(SimXen x, int domid, Runnable action) {
        x.afterCall(SimCall.named("XEN_DOMCTL_unpausedomain", domid), c -> {
            x.afterCall(SimCall.named("XEN_DOMCTL_unpausedomain", domid), c2 -> action.run());
        });
    }

    private void assertLeftAsFound(SimXen x, int domid) {
        assertThat(x.readGuestMemory(domid, AT, 1)[0]).as("the original byte").isEqualTo(ORIGINAL);
        assertThat(x.monitorRingEnabled(domid)).as("ring").isFalse();
        assertThat(x.monitorEvents(domid)).as("events").isZero();
        assertThat(x.vcpuPausedByVmEvent(domid, 0)).as("vCPU waiting").isFalse();
        assertThat(Files.exists(MonitorRecord.path(records, domid))).as("record").isFalse();
    }

    @Test
    void aBreakpointEventIsOneJsonLineThenTheByteIsBackAndTheDomainPausedAsFound() {
        whenLetRun(machine, PARENT, () -> {
            assertThat(machine.readGuestMemory(PARENT, AT, 1)[0]).as("an icebp by default").isEqualTo((byte) 0xf1);
            machine.executeIcebp(PARENT, 0, AT);
        });
        Run r = monitor("parent", "--breakpoint", "0x5000", "--count", "1", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines()).containsExactly("{\"vcpu\":0,\"reason\":\"breakpoint\",\"rip\":\"0x5000\",\"gfn\":\"0x5\"}");
        assertLeftAsFound(machine, PARENT);
        assertThat(machine.domain(PARENT).orElseThrow().controllerPauseCount()).as("paused as found").isEqualTo(1);
        assertThat(r.err()).contains("1 event from domain 1");
    }

    @Test
    void aBreakpointIsSteppedOverAndReinsertedWhereSinglestepIsOffered() {
        whenLetRun(machine, PARENT, () -> {
            machine.executeIcebp(PARENT, 0, AT);
            // After the first answer (step over, the byte lifted), taken by Xen on its notification: the step completes…
            machine.afterMonitorResume(PARENT, () -> {
                assertThat(machine.readGuestMemory(PARENT, AT, 1)[0]).as("lifted").isEqualTo(ORIGINAL);
                assertThat(machine.singlestepping(PARENT, 0)).isTrue();
                machine.executeSinglestep(PARENT, 0, AT + 1);
                // …then, answered (the icebp back, stepping off), the guest meets the breakpoint again.
                machine.afterMonitorResume(PARENT, () -> {
                    assertThat(machine.readGuestMemory(PARENT, AT, 1)[0]).as("reinserted").isEqualTo((byte) 0xf1);
                    assertThat(machine.singlestepping(PARENT, 0)).isFalse();
                    machine.executeIcebp(PARENT, 0, AT);
                });
            });
        });
        Run r = monitor("parent", "--breakpoint", "0x5000", "--count", "2");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines()).containsExactly("vcpu 0 breakpoint rip 0x5000 gfn 0x5",
                "vcpu 0 breakpoint rip 0x5000 gfn 0x5");
        assertLeftAsFound(machine, PARENT);
    }

    @Test
    void onAmdABreakpointIsRemovedAfterItsHitAndSaysSo() {
        SimXen amd = SimXen.builder(XenRelease.parse("4.17")).cpuVendor(SimXen.CpuVendor.AMD).build();
        amd.addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
        amd.writeGuestMemory(PARENT, AT, new byte[] {ORIGINAL});
        whenLetRun(amd, PARENT, () -> amd.executeIcebp(PARENT, 0, AT));
        Run r = monitor(x -> amd, "parent", "--breakpoint", "0x5000", "--count", "1");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("offers no single-step").contains("breakpoint at 0x5000 removed after its hit");
        assertLeftAsFound(amd, PARENT);
    }

    @Test
    void int3BreakpointsAreSoftwareBreakpointEventsAndTheGuestsOwnDebugTrapsAreReinjected() {
        whenLetRun(machine, PARENT, () -> {
            assertThat(machine.readGuestMemory(PARENT, AT, 1)[0]).isEqualTo((byte) 0xcc);
            org.xenfork.abi.Abi abi = org.xenfork.abi.Abi.forRelease(machine.release());
            assertThat(machine.monitorEvents(PARENT) & (1 << abi.constant("XEN_DOMCTL_MONITOR_EVENT_SOFTWARE_BREAKPOINT")))
                    .isNotZero();
            assertThat(machine.monitorEvents(PARENT) & (1 << abi.constant("XEN_DOMCTL_MONITOR_EVENT_DEBUG_EXCEPTION")))
                    .isZero();
            machine.executeBreakpoint(PARENT, 0, AT);
        });
        Run r = monitor("parent", "--breakpoint", "0x5000", "--breakpoint-insn", "int3", "--count", "1", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines()).containsExactly("{\"vcpu\":0,\"reason\":\"breakpoint\",\"rip\":\"0x5000\",\"gfn\":\"0x5\"}");
        assertLeftAsFound(machine, PARENT);

        // With icebp, DEBUG_EXCEPTION reports the guest's own #DBs too: given back, not printed, not counted.
        whenLetRun(machine, PARENT, () -> {
            machine.executeDebugTrap(PARENT, 0, AT, 0x4000); // a debug register of its own, at our breakpoint
            machine.afterMonitorResume(PARENT, () -> {
                assertThat(machine.pendingInjection(PARENT, 0)).as("its #DB, as Xen reported it")
                        .hasValueSatisfying(e -> assertThat(e).containsExactly(1, 3, 0, 0x4000));
                machine.executeIcebp(PARENT, 0, AT);
            });
        });
        Run own = monitor("parent", "--breakpoint", "0x5000", "--count", "1");
        assertThat(own.code()).as(own.err()).isZero();
        assertThat(own.out().lines()).containsExactly("vcpu 0 breakpoint rip 0x5000 gfn 0x5");
        assertLeftAsFound(machine, PARENT);
    }

    @Test
    void aCpuidEventCarriesItsLeafAndIsSkipped() {
        whenLetRun(machine, PARENT, () -> machine.executeCpuid(PARENT, 0, 0x7000, 0x4000_0000, 1));
        Run r = monitor("parent", "--cpuid", "--count", "1", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines()).containsExactly("{\"vcpu\":0,\"reason\":\"cpuid\",\"rip\":\"0x7000\",\"gfn\":null,"
                + "\"leaf\":\"0x40000000\",\"subleaf\":\"0x1\"}");
        assertLeftAsFound(machine, PARENT);
    }

    @Test
    void aTimeoutWithNoEventPutsEverythingBack() {
        Run r = monitor("web", "--breakpoint", "0x5000", "--timeout", "0");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("0 events from domain 2");
        assertThat(machine.readGuestMemory(WEB, AT, 1)[0]).isZero();
        assertThat(machine.monitorRingEnabled(WEB)).isFalse();
        assertThat(machine.domain(WEB).orElseThrow().isPaused()).as("running, as found").isFalse();
    }

    @Test
    void aSignalStopsTheMonitorAndEverythingIsPutBack() {
        whenLetRun(machine, PARENT, () -> top.signals.request().request("SIGINT (test)"));
        Run r = monitor("parent", "--breakpoint", "0x5000");
        assertThat(r.code()).as(r.err()).isEqualTo(130);
        assertThat(r.err()).contains("stopped by SIGINT (test)");
        assertLeftAsFound(machine, PARENT);
        assertThat(machine.domain(PARENT).orElseThrow().controllerPauseCount()).isEqualTo(1);
    }

    @Test
    void aFailureWhileRunningStillPutsEverythingBack() {
        whenLetRun(machine, PARENT, () -> {
            machine.executeDebugTrap(PARENT, 0, 0x6000, 0x4000); // the guest's own #DB: re-injected
            machine.injectFault(SimCall.named("dm_op", PARENT), Errno.EIO); // the re-injection's XEN_DMOP_inject_event
        });
        Run r = monitor("parent", "--breakpoint", "0x5000", "--count", "5");
        assertThat(r.code()).as(r.err()).isEqualTo(1);
        assertThat(r.err()).contains("XEN_DMOP_inject_event").contains("EIO");
        assertLeftAsFound(machine, PARENT);
    }

    @Test
    @Timeout(60) // a hang guard only: without its wake-up the wait would last a day
    void aSignalDuringTheWaitWakesItAndEverythingIsPutBack() throws Exception {
        Thread command = Thread.currentThread();
        Thread signal = new Thread(() -> {
            // Once the command waits on the ring's event channel (the simulated driver's poll), the signal comes.
            while (Arrays.stream(command.getStackTrace()).noneMatch(f -> f.getMethodName().equals("await")
                    && f.getClassName().equals("org.xenfork.privcmd.Evtchn"))) {
                Thread.onSpinWait();
            }
            top.signals.request().request("SIGINT (test)");
        }, "test-signal");
        signal.setDaemon(true);
        signal.start();
        Run r = monitor("parent", "--breakpoint", "0x5000");
        signal.join();
        assertThat(r.code()).as(r.err()).isEqualTo(130);
        assertThat(r.err()).contains("0 events from domain 1").contains("stopped by SIGINT (test)");
        assertLeftAsFound(machine, PARENT);
    }

    @Test
    void aRingAlreadyEnabledIsRefusedAndNothingChanges() {
        try (Privcmd p = Privcmd.open(new SimulatedSeam(machine));
             Hypervisor xen = Hypervisor.open(p, null, null, false);
             VmEventHypercalls vm = VmEventHypercalls.open(xen)) {
            vm.populatePhysmap(PARENT, machine.monitorRingGfn(PARENT));
            vm.monitorEnable(PARENT);
        }
        Run r = monitor("parent", "--breakpoint", "0x5000", "--count", "1");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("EBUSY").contains("--cleanup");
        assertThat(machine.readGuestMemory(PARENT, AT, 1)[0]).isEqualTo(ORIGINAL);
        assertThat(Files.exists(MonitorRecord.path(records, PARENT))).isFalse();
        assertThat(machine.domain(PARENT).orElseThrow().controllerPauseCount()).isEqualTo(1);
    }

    @Test
    void aBreakpointAtAnUnbackedAddressIsRefusedNamingItAndNothingIsLeft() {
        machine.writeGuestMemory(PARENT, 0x6000, new byte[] {ORIGINAL});
        Run r = monitor("parent", "--breakpoint", "0x6000", "--breakpoint", "0x40000000", "--count", "1");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("no breakpoint at 0x40000000");
        assertThat(machine.readGuestMemory(PARENT, 0x6000, 1)[0]).as("the first one put back").isEqualTo(ORIGINAL);
        assertLeftAsFound(machine, PARENT);
    }

    @Test
    void aVirtualBreakpointIsTranslatedThroughTheVcpusPageTablesAndAnUnmappedOneNamesTheLevel() {
        entry(0x10000, 0x11003); // PML4E 0
        entry(0x11000, 0x12003); // PDPTE 0
        entry(0x12010, 0x13003); // PDE 2: 0x400000 >> 21
        entry(0x13000, 0x20003); // PTE 0: guest-virtual 0x400000 is guest-physical 0x20000
        Run regs = xenfork(x -> machine, "--backend", "sim", "hvm-context", "set-reg", "parent", "--vcpu", "0",
                "cr0=0x80000011", "cr3=0x10000", "cr4=0x20", "msr_efer=0x500");
        assertThat(regs.code()).as(regs.err()).isZero();
        machine.writeGuestMemory(PARENT, 0x20ff8, new byte[] {ORIGINAL});
        whenLetRun(machine, PARENT, () -> machine.executeIcebp(PARENT, 0, 0x400ff8, 0x20ff8));
        Run r = monitor("parent", "--breakpoint", "0x400ff8", "--virtual", "--vcpu", "0", "--count", "1", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines()).containsExactly("{\"vcpu\":0,\"reason\":\"breakpoint\",\"rip\":\"0x400ff8\",\"gfn\":\"0x20\"}");
        assertThat(machine.readGuestMemory(PARENT, 0x20ff8, 1)[0]).isEqualTo(ORIGINAL);
        Run miss = monitor("parent", "--breakpoint", "0x401000", "--virtual", "--count", "1");
        assertThat(miss.code()).isEqualTo(1);
        assertThat(miss.err()).contains("virtual 0x401000").contains("PTE");
        assertThat(machine.monitorRingEnabled(PARENT)).isFalse();
    }

    private void entry(long at, long value) {
        machine.writeGuestMemory(PARENT, at, java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putLong(value).array());
    }

    @Test
    void aPvDomainAndAnUnknownOneAreRefused() {
        machine.addGuest(GuestSpec.pv("pv", 1, 65536));
        Run pv = monitor("pv", "--cpuid", "--count", "1");
        assertThat(pv.code()).isEqualTo(1);
        assertThat(pv.err()).contains("HVMOP_get_param");
        Run unknown = monitor("77", "--cpuid", "--count", "1");
        assertThat(unknown.code()).isNotZero();
        assertThat(unknown.err()).contains("77");
    }

    @Test
    void optionsThatMakeNoSenseAreUsageErrors() {
        assertThat(monitor("parent").code()).isEqualTo(2);
        assertThat(monitor("parent", "--cpuid", "--vcpu", "1").code()).isEqualTo(2);
        assertThat(monitor("parent", "--cpuid", "--count", "0").code()).isEqualTo(2);
        assertThat(monitor("--cleanup", "parent", "--cpuid").code()).isEqualTo(2);
        Run insn = monitor("parent", "--cpuid", "--breakpoint-insn", "icebp");
        assertThat(insn.code()).isEqualTo(2);
        assertThat(insn.err()).contains("--breakpoint-insn chooses the instruction of --breakpoint addresses");
        Run bad = monitor("parent", "--breakpoint", "0x5000", "--breakpoint-insn", "int1");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--breakpoint-insn").contains("icebp");
        Run dry = xenfork(x -> machine, "--backend", "sim", "--dry-run", "monitor", "parent", "--cpuid");
        assertThat(dry.code()).isEqualTo(2);
        assertThat(dry.err()).contains("no --dry-run");
    }

    /** What a monitor killed with -9 leaves: its record, an int3, the ring enabled, a vCPU waiting for an answer. */
    private void deadMonitor() throws Exception {
        machine.writeGuestMemory(PARENT, AT, new byte[] {(byte) 0xcc});
        byte[] handle = new byte[16];
        try (Privcmd p = Privcmd.open(new SimulatedSeam(machine));
             Hypervisor xen = Hypervisor.open(p, null, null, false);
             VmEventHypercalls vm = VmEventHypercalls.open(xen)) {
            handle = xen.domainInfo(PARENT).handle();
            vm.populatePhysmap(PARENT, machine.monitorRingGfn(PARENT));
            vm.monitorEnable(PARENT);
            vm.monitorEvent(PARENT, MonitorEvent.SOFTWARE_BREAKPOINT, true);
            xen.unpauseDomain(PARENT);
            machine.executeBreakpoint(PARENT, 0, AT);
            xen.pauseDomain(PARENT);
        }
        new MonitorRecord(handle, true, Breakpoints.Instruction.INT3, Map.of(AT, ORIGINAL)).write(records, PARENT);
    }

    @Test
    void aNewMonitorRefusesADomainWithARecordUntilCleanup() throws Exception {
        deadMonitor();
        Run r = monitor("parent", "--breakpoint", "0x5000", "--count", "1");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("did not finish").contains("xenfork monitor --cleanup 1");
        assertThat(machine.readGuestMemory(PARENT, AT, 1)[0]).as("untouched").isEqualTo((byte) 0xcc);
    }

    @Test
    void cleanupAfterACrashRestoresTheBytesDisablesTheRingAndResumesTheVcpu() throws Exception {
        deadMonitor();
        assertThat(machine.vcpuPausedByVmEvent(PARENT, 0)).isTrue();
        Run r = monitor("--cleanup", "parent");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("1 original byte put back");
        assertLeftAsFound(machine, PARENT);
        assertThat(machine.domain(PARENT).orElseThrow().controllerPauseCount()).as("paused as it was").isEqualTo(1);
        Run again = monitor("--cleanup", "parent");
        assertThat(again.code()).isZero();
        assertThat(again.err()).contains("nothing to clean up");
    }

    @Test
    void cleanupOfARecordWhoseDomainIsGoneOnlyRemovesIt() throws Exception {
        new MonitorRecord(new byte[16], true, Breakpoints.Instruction.INT3, Map.of(AT, ORIGINAL)).write(records, PARENT);
        machine.writeGuestMemory(PARENT, AT, new byte[] {(byte) 0xcc});
        Run r = monitor("--cleanup", "1");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("another domain now");
        assertThat(machine.readGuestMemory(PARENT, AT, 1)[0]).as("not that domain's byte").isEqualTo((byte) 0xcc);
        assertThat(Files.exists(MonitorRecord.path(records, PARENT))).isFalse();
    }

    @Test
    void capabilitiesAreTheHypervisorsByXensNames() {
        SimXen amd = SimXen.builder(XenRelease.parse("4.17")).cpuVendor(SimXen.CpuVendor.AMD).build();
        amd.addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
        Run intel = monitor("parent", "--capabilities");
        Run onAmd = xenfork(x -> amd, "--backend", "sim", "--json", "monitor", "parent", "--capabilities");
        assertThat(intel.code()).as(intel.err()).isZero();
        assertThat(onAmd.code()).as(onAmd.err()).isZero();
        // Xen offers single-step only where VT-x has the monitor trap flag (hvm_is_singlestep_supported)
        assertThat(intel.out()).startsWith("domain 1 capabilities 0x").contains("software_breakpoint", "cpuid", "singlestep");
        assertThat(onAmd.out()).startsWith("{\"domid\":1,\"capabilities\":\"0x").contains("\"software_breakpoint\"")
                .doesNotContain("singlestep");
        Run both = monitor("parent", "--capabilities", "--cpuid");
        assertThat(both.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(both.err()).contains("--capabilities only asks");
    }
}
