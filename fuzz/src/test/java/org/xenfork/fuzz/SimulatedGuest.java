package org.xenfork.fuzz;

import java.util.OptionalInt;
import org.xenfork.sim.LoggedCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import org.xenfork.vmi.Breakpoints;

/**
 * The fuzz target's guest, played from the simulator's hypercall hooks: after every hypercall, a fork of a
 * fork of the parent (the fuzz fork) that can run (not paused, its vCPU 0 not waiting for an answer) and has
 * not run since it was last paused or stopped at a breakpoint (so after each unpause and each response that
 * lets it run) reads the first byte of its input buffer and executes the breakpoint
 * instruction at the crash address when it is {@link #PLANTED}, runs to no breakpoint at all when it is
 * {@link #HANGS} (a hang), and executes it at the done address otherwise. So every test is one thread and
 * one order of events, as on a vCPU that runs the input to its end the moment it is let run.
 */
final class SimulatedGuest {
    static final long INPUT = 0x20000;
    static final long DONE = 0x5020;
    static final long CRASH = 0x5010;
    static final long OTHER_CRASH = 0x5030;
    static final byte PLANTED = 0x5a;
    static final byte HANGS = 0x7e;
    /** The bytes at the breakpoints in the parent, which must never change. */
    static final byte ORIGINAL = (byte) 0x90;

    private final SimXen sim;
    private final int parent;
    private final Breakpoints.Instruction instruction;
    private int ranIn = -1;
    private long runs;
    private boolean stopped;
    private final java.util.Set<Integer> resumeArmed = new java.util.HashSet<>();
    /** The parent's harness: it executes CPUID leaf 0 at {@code harnessRip - 0x10}, then this leaf at {@code harnessRip}. */
    private long harnessLeaf = -1;
    private long harnessRip;
    private int harnessStep;
    private byte[] lastInput = new byte[0];

    SimulatedGuest(SimXen sim, int parent, Breakpoints.Instruction instruction) {
        this.sim = sim;
        this.parent = parent;
        this.instruction = instruction;
    }

    /** The guest of {@code parent}, its hook armed. */
    static SimulatedGuest in(SimXen sim, int parent, Breakpoints.Instruction instruction) {
        SimulatedGuest g = new SimulatedGuest(sim, parent, instruction);
        g.arm();
        return g;
    }

    /**
     * The parent, when let run, first executes CPUID leaf 0 (not the harness), then CPUID {@code leaf} at
     * {@code rip} (the harness), each when it can run again.
     */
    SimulatedGuest withHarness(long leaf, long rip) {
        harnessLeaf = leaf;
        harnessRip = rip;
        armResume(parent);
        return this;
    }

    /** How many CPUIDs of the harness the parent has executed (0, 1: leaf 0, 2: the harness leaf). */
    int harnessSteps() {
        return harnessStep;
    }

    /** The first 16 bytes of the input buffer the guest last ran. */
    byte[] lastInput() {
        return lastInput.clone();
    }

    /** How many inputs the guest has run. */
    long runs() {
        return runs;
    }

    /** The guest stops reacting (a test that is done with it). */
    void stop() {
        stopped = true;
    }

    private void arm() {
        sim.afterCall(c -> true, this::after);
    }

    /**
     * A domain also runs when the monitor's answer lets it: an answer goes by a notification of Xen's port,
     * which is no hypercall, so the hypercall hook alone would never see that moment.
     */
    private void armResume(int domid) {
        if (!stopped && resumeArmed.add(domid) && sim.domain(domid).isPresent()) {
            sim.afterMonitorResume(domid, () -> {
                resumeArmed.remove(domid);
                after(null);
            });
        } else if (sim.domain(domid).isEmpty()) {
            resumeArmed.remove(domid);
        }
    }

    private void after(LoggedCall call) {
        if (stopped) {
            return;
        }
        arm();
        if (harnessLeaf >= 0 && harnessStep < 2) {
            armResume(parent);
            SimDomain p = sim.domain(parent).orElseThrow();
            if (!p.isPaused() && !sim.vcpuPausedByVmEvent(parent, 0)) {
                boolean first = harnessStep == 0; // executed again and again until a monitor sees it
                if (sim.executeCpuid(parent, 0, first ? harnessRip - 0x10 : harnessRip, first ? 0 : (int) harnessLeaf, 0)) {
                    harnessStep++;
                }
            }
        }
        OptionalInt f = fuzzFork();
        if (f.isEmpty()) {
            return;
        }
        int fork = f.getAsInt();
        armResume(fork);
        SimDomain d = sim.domain(fork).orElseThrow();
        if (d.isPaused() || d.isDying()) {
            ranIn = -1;
            return;
        }
        if (sim.vcpuPausedByVmEvent(fork, 0)) {
            ranIn = -1; // its run ended at a breakpoint: answered and not paused, it runs (the input) again
            return;
        }
        if (ranIn == fork) {
            return;
        }
        ranIn = fork;
        runs++;
        lastInput = sim.readGuestMemory(fork, INPUT, 16);
        byte first = lastInput[0];
        if (first == HANGS) {
            return;
        }
        long at = first == PLANTED ? CRASH : DONE;
        boolean waits = instruction == Breakpoints.Instruction.ICEBP ? sim.executeIcebp(fork, 0, at)
                : sim.executeBreakpoint(fork, 0, at);
        if (waits) {
            ranIn = -1; // its run ended at the breakpoint: once answered and not paused, it runs again
        }
    }

    private OptionalInt fuzzFork() {
        for (SimDomain d : sim.domains()) {
            OptionalInt p = d.parent();
            if (p.isPresent() && !d.isDying()) {
                OptionalInt grand = sim.domain(p.getAsInt()).map(SimDomain::parent).orElse(OptionalInt.empty());
                if (grand.isPresent() && grand.getAsInt() == parent) {
                    return OptionalInt.of(d.domid());
                }
            }
        }
        return OptionalInt.empty();
    }
}
