package org.xenfork.fuzz;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.xenfork.fuzz.SimulatedGuest.CRASH;
import static org.xenfork.fuzz.SimulatedGuest.DONE;
import static org.xenfork.fuzz.SimulatedGuest.HANGS;
import static org.xenfork.fuzz.SimulatedGuest.INPUT;
import static org.xenfork.fuzz.SimulatedGuest.ORIGINAL;
import static org.xenfork.fuzz.SimulatedGuest.OTHER_CRASH;
import static org.xenfork.fuzz.SimulatedGuest.PLANTED;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.StoppedException;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.LoggedCall;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;
import org.xenfork.vmi.Breakpoints;

/**
 * {@link Fuzzer} and {@link Campaign} on the simulator, with the target's guest played by
 * {@link SimulatedGuest} from the hypercall hooks.
 */
class FuzzerTest {
    private static final int PARENT = 1;
    private static final int SIZE = 16;
    private static final Duration TIMEOUT = Duration.ofMillis(5);

    @TempDir
    Path out;

    /** A simulated Xen with a paused HVM parent, and the privcmd and hypervisor over it. */
    private static final class Machine implements AutoCloseable {
        final SimXen sim;
        final SimulatedSeam seam;
        final Privcmd privcmd;
        final Hypervisor xen;
        final byte[] parentInput;

        Machine(String release, boolean parentPaused) {
            sim = SimXen.create(XenRelease.parse(release));
            GuestSpec spec = GuestSpec.hvm("parent", 1, 65536);
            sim.addGuest(parentPaused ? spec.paused() : spec);
            sim.writeGuestMemory(PARENT, INPUT, new byte[] {0x11, 0x22, 0x33});
            for (long a : List.of(DONE, CRASH, OTHER_CRASH)) {
                sim.writeGuestMemory(PARENT, a, new byte[] {ORIGINAL});
            }
            parentInput = sim.readGuestMemory(PARENT, INPUT, SIZE);
            seam = new SimulatedSeam(sim);
            privcmd = Privcmd.open(seam);
            xen = Hypervisor.open(privcmd, null, null, false);
        }

        Fuzzer start(FuzzTarget t, StopRequest stop) {
            return Fuzzer.start(xen, privcmd, t, stop, notice -> { });
        }

        @Override
        public void close() {
            xen.close();
            privcmd.close();
        }
    }

    private static FuzzTarget target() {
        return FuzzTarget.physical(PARENT, INPUT, SIZE, DONE, List.of(CRASH, OTHER_CRASH)).withTimeout(TIMEOUT);
    }

    private static byte[] input(int first) {
        byte[] in = new byte[4];
        in[0] = (byte) first;
        in[1] = 1;
        return in;
    }

    /** Nothing of the fuzzer is left: only dom0 and the parent, the parent's bytes and pause as expected, no mapping, no fd. */
    private static void assertNothingLeft(Machine m, int parentPauses) {
        assertThat(m.sim.domains().stream().map(SimDomain::domid)).as("domains").containsExactly(0, PARENT);
        SimDomain p = m.sim.domain(PARENT).orElseThrow();
        assertThat(p.controllerPauseCount()).as("the parent's pause").isEqualTo(parentPauses);
        assertThat(m.sim.monitorRingEnabled(PARENT)).as("the parent's ring").isFalse();
        assertThat(m.sim.monitorEvents(PARENT)).as("the parent's events").isZero();
        assertThat(m.sim.vcpuPausedByVmEvent(PARENT, 0)).as("a parent vCPU waiting").isFalse();
        for (long a : List.of(DONE, CRASH, OTHER_CRASH)) {
            assertThat(m.sim.readGuestMemory(PARENT, a, 1)[0]).as("the parent's byte at 0x%x", a).isEqualTo(ORIGINAL);
        }
        assertThat(m.sim.readGuestMemory(PARENT, INPUT, SIZE)).as("the parent's input buffer").isEqualTo(m.parentInput);
        assertThat(m.seam.privcmdMappingCount()).as("foreign mappings").isZero();
    }

    private static void assertClosed(Machine m) {
        m.close();
        assertThat(m.seam.mappingCount()).as("mappings after close").isZero();
        assertThat(m.seam.openFileCount()).as("open files after close").isZero();
    }

    /** A mutator that plays a list of inputs, then repeats the last; it remembers what each came to. */
    private static final class Scripted implements Mutator {
        private final Iterator<byte[]> inputs;
        private byte[] last;
        final List<Outcome> outcomes = new ArrayList<>();

        Scripted(byte[]... inputs) {
            this.inputs = Arrays.asList(inputs).iterator();
        }

        @Override
        public byte[] next() {
            if (inputs.hasNext()) {
                last = inputs.next();
            }
            return last.clone();
        }

        @Override
        public void ran(byte[] input, Outcome outcome) {
            outcomes.add(outcome);
        }
    }

    @Test
    void havocFindsThePlantedCrashFromOneSeedAndSavesExactlyTheCrashingInput() throws IOException {
        try (Machine m = new Machine("4.17", true)) {
            SimulatedGuest guest = SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
            StopRequest stop = new StopRequest();
            List<byte[]> crashing = new ArrayList<>();
            HavocMutator havoc = new HavocMutator(List.of("AAAAAAAA".getBytes(java.nio.charset.StandardCharsets.US_ASCII)),
                    SIZE, 7);
            Mutator firstCrashStops = new Mutator() {
                @Override
                public byte[] next() {
                    return havoc.next();
                }

                @Override
                public void ran(byte[] input, Outcome outcome) {
                    if (outcome.kind() == Outcome.Kind.CRASH) {
                        crashing.add(input.clone());
                        stop.request("the first crash");
                    }
                }
            };
            Campaign.Summary s;
            try (Fuzzer f = m.start(target(), stop)) {
                s = Campaign.run(f, firstCrashStops, Campaign.Limits.iterations(20_000), Findings.in(out), stop,
                        Campaign.Status.NONE);
            }
            assertThat(s.progress().iterations()).as("found within the bound").isLessThan(20_000);
            assertThat(s.progress().crashes()).isEqualTo(1);
            assertThat(guest.runs()).isEqualTo(s.progress().iterations());
            assertThat(crashing).hasSize(1);
            byte[] crash = crashing.get(0);
            assertThat(crash[0]).isEqualTo(PLANTED);
            assertThat(s.crashFiles()).containsExactly(out.resolve("crashes").resolve(Findings.crashName(CRASH, crash)));
            Path file = s.crashFiles().get(0);
            assertThat(Files.readAllBytes(file)).as("exactly the crashing input").isEqualTo(crash);
            assertThat(file.getFileName().toString()).matches("crash-0x5010-[0-9a-f]{16}");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(out.resolve("crashes"))))
                    .isEqualTo("rwx------");
            guest.stop();
            assertNothingLeft(m, 1);
            assertClosed(m);
        }
    }

    @Test
    void aCrashSeenTwiceIsSavedOnceAndCountedTwiceAndAHangIsSavedToHangs() throws IOException {
        try (Machine m = new Machine("4.17", true)) {
            SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
            byte[] crash = input(PLANTED);
            byte[] other = input(PLANTED);
            other[2] = 9;
            Scripted inputs = new Scripted(input(1), crash, crash.clone(), input(HANGS), other, input(2));
            Campaign.Summary s;
            try (Fuzzer f = m.start(target(), new StopRequest())) {
                s = Campaign.run(f, inputs, Campaign.Limits.iterations(6), Findings.in(out), new StopRequest(),
                        Campaign.Status.NONE);
            }
            assertThat(inputs.outcomes).containsExactly(Outcome.DONE, Outcome.crash(CRASH), Outcome.crash(CRASH),
                    Outcome.HANG, Outcome.crash(CRASH), Outcome.DONE);
            assertThat(s.progress().crashes()).isEqualTo(3);
            assertThat(s.progress().hangs()).isEqualTo(1);
            assertThat(s.crashFiles()).hasSize(2);
            assertThat(Files.list(out.resolve("crashes")).count()).isEqualTo(2);
            assertThat(s.hangFiles()).containsExactly(out.resolve("hangs").resolve(Findings.hangName(input(HANGS))));
            assertThat(Files.readAllBytes(s.hangFiles().get(0))).isEqualTo(input(HANGS));
            assertNothingLeft(m, 1);
        }
    }

    @Test
    void aSecondRunIntoTheSameFolderSkipsTheCrashesItHasAlready() throws IOException {
        for (int run = 0; run < 2; run++) {
            try (Machine m = new Machine("4.17", true)) {
                SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
                try (Fuzzer f = m.start(target(), new StopRequest())) {
                    Campaign.Summary s = Campaign.run(f, new Scripted(input(PLANTED)), Campaign.Limits.iterations(1),
                            Findings.in(out), new StopRequest(), Campaign.Status.NONE);
                    assertThat(s.crashFiles()).hasSize(run == 0 ? 1 : 0);
                    assertThat(s.progress().crashes()).isEqualTo(1);
                }
            }
        }
    }

    /** The bytes the fuzz fork reads at the input after an iteration: its parent's again, once reset. */
    private static void assertInputWrittenAndReset(Machine m, SimulatedGuest guest, Fuzzer f) throws InterruptedException {
        byte[] longer = new byte[SIZE];
        Arrays.fill(longer, (byte) 0x44);
        assertThat(f.run(longer)).isEqualTo(Outcome.DONE);
        assertThat(guest.lastInput()).isEqualTo(longer);
        byte[] written = {3}; // shorter than the last input and the parent's bytes there: zeros must replace them
        assertThat(f.run(written)).isEqualTo(Outcome.DONE);
        assertThat(guest.lastInput()).as("the input, then zeros to the buffer's end").isEqualTo(Arrays.copyOf(written, SIZE));
        assertThat(m.sim.readGuestMemory(f.fork(), INPUT, SIZE)).as("reset: the sink's bytes, which are the parent's")
                .isEqualTo(m.parentInput);
        assertThat(m.sim.domain(f.fork()).orElseThrow().controllerPauseCount()).as("paused after the iteration").isEqualTo(1);
        assertThat(m.sim.vcpuPausedByVmEvent(f.fork(), 0)).as("its vCPU answered").isFalse();
    }

    private static long forkResets(Machine m, int fork) {
        return m.sim.calls().stream().map(LoggedCall::call)
                .filter(SimCall.named("XENMEM_sharing_op_fork_reset", fork)).count();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withVmEventForkReset")
    void fromXen417AHitIsResetInItsResponseAndAHangWithForkReset(String release) throws InterruptedException {
        try (Machine m = new Machine(release, true)) {
            SimulatedGuest guest = SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
            try (Fuzzer f = m.start(target(), new StopRequest())) {
                assertThat(f.resetsInResponse()).isTrue();
                assertInputWrittenAndReset(m, guest, f);
                assertThat(f.run(input(PLANTED))).isEqualTo(Outcome.crash(CRASH));
                assertThat(forkResets(m, f.fork())).as("no fork_reset for a hit").isZero();
                assertThat(f.run(input(HANGS))).isEqualTo(Outcome.HANG);
                assertThat(forkResets(m, f.fork())).as("a hang has no response to carry the reset").isEqualTo(1);
                assertThat(m.sim.readGuestMemory(f.fork(), INPUT, SIZE)).isEqualTo(m.parentInput);
                assertThat(f.run(input(4))).as("the fork runs on after a hang").isEqualTo(Outcome.DONE);
            }
            assertNothingLeft(m, 1);
        }
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withoutVmEventForkReset")
    void beforeXen417EveryIterationEndsWithForkReset(String release) throws InterruptedException {
        try (Machine m = new Machine(release, true)) {
            SimulatedGuest guest = SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
            try (Fuzzer f = m.start(target(), new StopRequest())) {
                assertThat(f.resetsInResponse()).isFalse();
                assertInputWrittenAndReset(m, guest, f);
                assertThat(f.run(input(PLANTED))).isEqualTo(Outcome.crash(CRASH));
                assertThat(f.run(input(HANGS))).isEqualTo(Outcome.HANG);
                assertThat(forkResets(m, f.fork())).isEqualTo(4);
            }
            assertNothingLeft(m, 1);
        }
    }

    @Test
    void int3BreakpointsWorkTheSameWay() throws InterruptedException {
        try (Machine m = new Machine("4.17", true)) {
            SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.INT3);
            try (Fuzzer f = m.start(target().withInstruction(Breakpoints.Instruction.INT3), new StopRequest())) {
                assertThat(m.sim.readGuestMemory(f.sink(), CRASH, 1)[0]).isEqualTo((byte) 0xcc);
                assertThat(f.run(input(PLANTED))).isEqualTo(Outcome.crash(CRASH));
                assertThat(f.run(input(0))).isEqualTo(Outcome.DONE);
            }
            assertNothingLeft(m, 1);
        }
    }

    @Test
    void theGuestsOwnDebugTrapIsGivenBackAndTheIterationGoesOn() throws InterruptedException {
        try (Machine m = new Machine("4.17", true)) {
            try (Fuzzer f = m.start(target(), new StopRequest())) {
                m.sim.afterCall(SimCall.named("XEN_DOMCTL_unpausedomain", f.fork()), c -> {
                    m.sim.executeDebugTrap(f.fork(), 0, 0x7000, 0x4000); // a debug register of its own
                    m.sim.afterMonitorResume(f.fork(), () -> { // the answer, taken by Xen on its notification
                        assertThat(m.sim.pendingInjection(f.fork(), 0)).as("its #DB, given back")
                                .hasValueSatisfying(e -> assertThat(e[0]).isEqualTo(1));
                        m.sim.executeIcebp(f.fork(), 0, DONE);
                    });
                });
                assertThat(f.run(input(0))).isEqualTo(Outcome.DONE);
            }
            assertNothingLeft(m, 1);
        }
    }

    @Test
    void theSinkHoldsTheBreakpointsAndTheParentsMemoryIsNeverWritten() throws InterruptedException {
        try (Machine m = new Machine("4.17", true)) {
            SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
            try (Fuzzer f = m.start(target(), new StopRequest())) {
                assertThat(m.sim.domain(f.sink()).orElseThrow().parent()).hasValue(PARENT);
                assertThat(m.sim.domain(f.fork()).orElseThrow().parent()).hasValue(f.sink());
                assertThat(m.sim.readGuestMemory(f.sink(), DONE, 1)[0]).isEqualTo((byte) 0xf1);
                assertThat(m.sim.readGuestMemory(PARENT, DONE, 1)[0]).isEqualTo(ORIGINAL);
                assertThat(m.sim.monitorRingEnabled(f.fork())).isTrue();
                assertThat(m.sim.monitorRingEnabled(f.sink())).isFalse();
                assertThat(m.sim.domain(f.fork()).orElseThrow().blockInterrupts()).isTrue();
                f.run(input(PLANTED));
                assertThat(m.sim.readGuestMemory(PARENT, INPUT, SIZE)).isEqualTo(m.parentInput);
            }
            assertNothingLeft(m, 1);
        }
    }

    @Test
    void aRunningParentWithoutAHarnessIsRefusedAndNothingChanges() {
        try (Machine m = new Machine("4.17", false)) {
            assertThatThrownBy(() -> m.start(target(), new StopRequest())).isInstanceOf(FuzzRequestException.class)
                    .hasMessageContaining("domain 1 is running").hasMessageContaining("--start-cpuid");
            assertThat(m.sim.domains()).hasSize(2);
            assertThat(m.sim.domain(PARENT).orElseThrow().isPaused()).isFalse();
        }
    }

    @Test
    void aPvParentIsRefused() {
        try (Machine m = new Machine("4.17", true)) {
            m.sim.addGuest(GuestSpec.pv("pv", 1, 65536).paused());
            FuzzTarget t = FuzzTarget.physical(2, INPUT, SIZE, DONE, List.of(CRASH));
            assertThatThrownBy(() -> m.start(t, new StopRequest())).isInstanceOf(FuzzRequestException.class)
                    .hasMessageContaining("PV");
        }
    }

    @Test
    void anUnbackedBreakpointIsRefusedNamingItAndNothingIsLeft() {
        try (Machine m = new Machine("4.17", true)) {
            FuzzTarget t = FuzzTarget.physical(PARENT, INPUT, SIZE, DONE, List.of(0x40000000L));
            assertThatThrownBy(() -> m.start(t, new StopRequest())).isInstanceOf(FuzzException.class)
                    .hasMessageContaining("0x40000000");
            assertNothingLeft(m, 1);
        }
    }

    @Test
    void theHarnessRunsARunningParentToItsCpuidAndLeavesItPausedPastIt() throws Exception {
        long leaf = 0x13371337L;
        for (boolean paused : new boolean[] {false, true}) {
            try (Machine m = new Machine("4.17", paused)) {
                SimulatedGuest guest = SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP).withHarness(leaf, 0x7000);
                try (Fuzzer f = m.start(target().startingAtCpuid(leaf), new StopRequest())) {
                    assertThat(guest.harnessSteps()).isEqualTo(2);
                    assertThat(f.harnessRip()).isEqualTo(0x7002);
                    assertThat(f.run(input(PLANTED))).isEqualTo(Outcome.crash(CRASH));
                }
                assertNothingLeft(m, 1); // paused at the harness, whether found running or paused
                HvmContext ctx = HvmContext.parse(m.sim.hvmContext(PARENT), m.sim.release());
                var cpu = ctx.find("CPU", 0).orElseThrow();
                assertThat(cpu.layout().orElseThrow().leaf("rip").read(cpu.body(), 0)).as("past the CPUID").isEqualTo(0x7002);
            }
        }
    }

    @Test
    void aStopWhileWaitingForTheHarnessPutsTheParentBackAsFound() {
        for (boolean paused : new boolean[] {false, true}) {
            try (Machine m = new Machine("4.17", paused)) {
                StopRequest stop = new StopRequest();
                // the parent never executes its harness; a stop comes once it is let run (or at once when running)
                m.sim.afterCall(SimCall.named("XEN_DOMCTL_monitor_op", PARENT), c -> stop.request("SIGINT (test)"));
                assertThatThrownBy(() -> m.start(target().startingAtCpuid(0x1337), stop))
                        .isInstanceOf(StoppedException.class).hasMessageContaining("harness CPUID");
                assertNothingLeft(m, paused ? 1 : 0);
            }
        }
    }

    @Test
    void aStopMidRunEndsTheCampaignAndCloseLeavesNothing() throws IOException {
        try (Machine m = new Machine("4.17", true)) {
            SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
            StopRequest stop = new StopRequest();
            Campaign.Summary s;
            try (Fuzzer f = m.start(target(), stop)) {
                AtomicInteger lets = new AtomicInteger();
                stopOnThirdUnpause(m, f.fork(), stop, lets);
                s = Campaign.run(f, new Scripted(input(1)), Campaign.Limits.none(), Findings.in(out), stop,
                        Campaign.Status.NONE);
            }
            assertThat(s.stopped()).isTrue();
            assertThat(s.progress().iterations()).isBetween(2L, 3L);
            assertNothingLeft(m, 1);
            assertClosed(m);
        }
    }

    private static void stopOnThirdUnpause(Machine m, int fork, StopRequest stop, AtomicInteger lets) {
        m.sim.afterCall(SimCall.named("XEN_DOMCTL_unpausedomain", fork), c -> {
            if (lets.incrementAndGet() == 3) {
                stop.request("SIGINT (test)");
            } else {
                stopOnThirdUnpause(m, fork, stop, lets);
            }
        });
    }

    /** Set-up, one iteration of each ending, tear-down: the scenario every fault is injected into. */
    private static void scenario(Machine m, boolean harness) throws Exception {
        FuzzTarget t = harness ? target().startingAtCpuid(0x1337) : target();
        try (Fuzzer f = m.start(t, new StopRequest())) {
            Campaign.run(f, new Scripted(input(1), input(PLANTED), input(HANGS), input(2)), Campaign.Limits.iterations(4),
                    null, new StopRequest(), Campaign.Status.NONE);
        }
    }

    private static Machine machineFor(String release, boolean harness) {
        Machine m = new Machine(release, true);
        SimulatedGuest g = SimulatedGuest.in(m.sim, PARENT, Breakpoints.Instruction.ICEBP);
        if (harness) {
            g.withHarness(0x1337, 0x7000);
        }
        return m;
    }

    /**
     * Every hypercall of a clean run, counted (mmu_updates of the foreign mappings included), failed in
     * turn with EIO in a fresh run: whatever failed, nothing is left and everything is closed.
     */
    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aFaultAtEveryHypercallOfSetUpIterationAndTearDownLeavesNothingBehind(String release) throws Exception {
        for (boolean harness : new boolean[] {false, true}) {
            int calls;
            try (Machine clean = machineFor(release, harness)) {
                AtomicInteger count = new AtomicInteger();
                clean.sim.injectFault(c -> count.incrementAndGet() < 0, Errno.EIO);
                scenario(clean, harness);
                calls = count.get();
                assertNothingLeft(clean, 1);
            }
            assertThat(calls).as("a trace to fault").isGreaterThan(40);
            for (int k = 1; k <= calls; k++) {
                int at = k;
                Machine m = machineFor(release, harness);
                AtomicInteger n = new AtomicInteger();
                List<String> faulted = new ArrayList<>();
                m.sim.injectFault(c -> {
                    boolean hit = n.incrementAndGet() == at;
                    if (hit) {
                        faulted.add(c.toString());
                    }
                    return hit;
                }, Errno.EIO);
                Throwable thrown = null;
                try {
                    scenario(m, harness);
                } catch (Exception | AssertionError e) {
                    thrown = e;
                }
                String what = "release " + release + (harness ? ", harness" : "") + ", fault at call " + at + " "
                        + faulted + (thrown == null ? "" : ": " + thrown);
                try {
                    if (thrown instanceof AssertionError a) {
                        throw a; // the guest or a test hook saw something wrong
                    }
                    assertNothingLeft(m, 1);
                    assertClosed(m);
                } catch (AssertionError e) {
                    throw new AssertionError(what + ": " + e.getMessage(), e);
                }
            }
        }
    }
}
