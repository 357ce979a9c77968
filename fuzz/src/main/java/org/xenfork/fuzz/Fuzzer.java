package org.xenfork.fuzz;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.Forker;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.VmFork;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.VmEventHypercalls;
import org.xenfork.privcmd.VmEventHypercalls.MonitorEvent;
import org.xenfork.privcmd.XenException;
import org.xenfork.vmi.Breakpoints;
import org.xenfork.vmi.GuestMemory;
import org.xenfork.vmi.GuestMemoryException;
import org.xenfork.vmi.MappedPhysicalMemory;
import org.xenfork.vmi.Monitor;
import org.xenfork.vmi.MonitorException;
import org.xenfork.vmi.PagingRegisters;
import org.xenfork.vmi.VmEventRequest;
import org.xenfork.vmi.VmEventResponse;

/**
 * The fork-and-reset loop of one target, as KF/x runs it: set up once ({@link #start}), then one
 * input per {@link #run}, then {@link #close}.
 *
 * <pre>{@code
 * try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
 *      Hypervisor xen = Hypervisor.open(privcmd, null, null, false);
 *      Fuzzer fuzzer = Fuzzer.start(xen, privcmd, FuzzTarget.physical(5, 0x200000, 64, 0x100020,
 *              List.of(0x100010L)), new StopRequest(), System.err::println)) {
 *     Outcome o = fuzzer.run(new byte[] {0x41});   // DONE, a crash at 0x100010, or HANG
 * }                                                // forks destroyed, the parent as it was left
 * }</pre>
 *
 * <p><b>Set-up</b>: with a harness leaf, the parent is monitored for CPUID until it executes that
 * leaf, paused there and its CPUID completed (rip moved past it), and the monitor closed; without one
 * it must be paused already. The addresses are translated (with {@link FuzzTarget#virtual()}) through
 * the parent's vCPU 0 page tables, reading only. A "sink" fork of the parent gets the breakpoints (the
 * parent's memory is never written); the fuzz fork is a fork of the sink; the monitor ring is
 * enabled once, on the fuzz fork, with the breakpoint instruction's event on. Both forks are made
 * paused and with interrupts blocked ({@code XENMEM_FORK_BLOCK_INTERRUPTS}, as KF/x forks).
 *
 * <p><b>An iteration</b> ({@link #run}): the input's frames of the fuzz fork are mapped afresh
 * (a reset drops the fork's pages, and a page still mapped would survive it), the input and then
 * zeros up to the buffer's size written, the mapping closed; the fork unpaused; requests taken until
 * a hit of the done or a crash breakpoint (anything else is given back to the guest with
 * {@link Monitor#reinject} and resumed) or the timeout; the fork paused; then reset: in the response
 * to the hit ({@code VM_EVENT_FLAG_RESET_FORK_STATE | _MEMORY}, Xen 4.17+), else with
 * {@code XENMEM_sharing_op_fork_reset} (after the response, or alone for a hang). The fork is paused
 * before the response because Xen applies the reset flags and then unpauses the vCPU
 * ({@code vm_event_resume}, xen/common/vm_event.c): the next input must be written while it cannot run.
 *
 * <p><b>Tear-down</b> ({@link #close}, also after a failed set-up at any step): the ring is closed
 * (requests answered, events off, ring disabled, page unmapped), the fuzz fork destroyed, the
 * breakpoints taken out of the sink, the sink destroyed; each step is attempted even if one fails, and a
 * destroy that fails is tried once more. The parent is left paused: where it was found without a harness
 * leaf; at its harness (past the CPUID) with one, once reached (a stop or failure before it puts the parent
 * back as it was found).
 *
 * <p>Not thread-safe: one thread runs it (a {@link StopRequest} may come from any).
 */
public final class Fuzzer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Fuzzer.class.getName());
    private static final Duration HARNESS_SLICE = Duration.ofSeconds(1);

    private final Hypervisor xen;
    private final ForeignMemory foreign;
    private final FuzzTarget target;
    private final StopRequest stop;
    private final Consumer<String> notices;
    private final Forker forker;
    private VmEventHypercalls vm;
    private VmFork sink;
    private VmFork fork;
    private Breakpoints breakpoints;
    private Monitor monitor;
    /** The fuzz fork's frames of the input, page by page, and where each page's part starts and ends. */
    private long[] inputGfns;
    private int[] pageOffset;
    private int[] pageLength;
    private byte[] buffer;
    /** Guest-physical breakpoint address to what a hit there means. */
    private final Map<Long, Outcome> outcomes = new HashMap<>();
    private long harnessRip = -1;
    private boolean broken;
    private boolean closed;

    private Fuzzer(Hypervisor xen, Privcmd privcmd, FuzzTarget target, StopRequest stop, Consumer<String> notices) {
        this.xen = xen;
        this.foreign = new ForeignMemory(privcmd);
        this.target = target;
        this.stop = stop;
        this.notices = notices;
        this.forker = new Forker(xen, DomainNames.NONE, notices, stop);
    }

    /**
     * Sets the target up (see the class comment); on any failure, or a stop, whatever was made is
     * torn down again before the exception leaves.
     *
     * @throws FuzzRequestException the parent cannot be fuzzed as asked; nothing was changed
     * @throws FuzzException        a step was refused (a breakpoint address not backed, the ring)
     * @throws ForkException        a fork could not be made
     * @throws org.xenfork.fork.StoppedException a stop was requested
     * @throws XenException         the parent could not be looked at
     */
    public static Fuzzer start(Hypervisor xen, Privcmd privcmd, FuzzTarget target, StopRequest stop,
                               Consumer<String> notices) {
        Fuzzer f = new Fuzzer(xen, privcmd, target, stop, notices);
        try {
            f.setUp();
            return f;
        } catch (RuntimeException | Error e) {
            try {
                f.close();
            } catch (RuntimeException teardown) {
                e.addSuppressed(teardown);
            }
            throw e;
        }
    }

    private void setUp() {
        int parent = target.parent();
        DomainInfo info = xen.domainInfo(parent);
        if (info.has(DomainFlag.DYING)) {
            throw new FuzzRequestException("domain " + parent + " is being destroyed");
        }
        if (!info.has(DomainFlag.HVM_GUEST)) {
            throw new FuzzRequestException("domain " + parent + " is a PV guest: forks, breakpoints and the monitor "
                    + "ring need an HVM or PVH guest");
        }
        if (target.startCpuidLeaf().isEmpty() && !info.has(DomainFlag.PAUSED)) {
            throw new FuzzRequestException("domain " + parent + " is running: pause it where it is about to read its "
                    + "input (xenfork pause " + parent + "), or give the CPUID leaf its harness executes there "
                    + "(--start-cpuid LEAF)");
        }
        vm = VmEventHypercalls.open(xen);
        if (target.startCpuidLeaf().isPresent()) {
            runToHarness(info.has(DomainFlag.PAUSED));
        }
        List<Long> physical = translate();
        if (stop.requested()) {
            throw stop.stopped("before forking domain " + parent, List.of(), List.of());
        }
        ForkOptions options = ForkOptions.DEFAULT.paused().blockingInterrupts();
        sink = forker.fork(parent, options);
        notices.accept("sink fork " + sink.domid() + " of domain " + parent + " holds the breakpoints");
        breakpoints = new Breakpoints(new GuestMemory(new MappedPhysicalMemory(foreign, sink.domid())),
                target.instruction(), Breakpoints.Journal.NONE);
        for (long a : physical) {
            try {
                breakpoints.insert(a);
            } catch (GuestMemoryException e) {
                throw new FuzzException("no breakpoint at guest-physical " + FuzzTarget.hex(a) + " of the sink "
                        + sink.domid() + ": " + e.getMessage(), e);
            }
        }
        fork = forker.fork(sink.domid(), options);
        notices.accept("fuzz fork " + fork.domid() + " of sink " + sink.domid() + " runs the inputs");
        try {
            monitor = Monitor.enable(xen, vm, foreign, fork.domid());
            monitor.monitor(target.instruction().event(), true);
        } catch (MonitorException e) {
            throw new FuzzException("the fuzz fork " + fork.domid() + "'s monitor ring: " + e.getMessage(), e);
        }
        LOG.log(System.Logger.Level.INFO, "fuzz set up: parent {0}, sink {1}, fork {2}, reset {3}", parent, sink.domid(),
                fork.domid(), monitor.canResetFork() ? "in the vm_event response" : "with fork_reset");
    }

    /**
     * Monitors the parent for CPUID until it executes the harness leaf; then pauses it, completes that
     * CPUID (Xen has put the result in the registers, {@code hvm_vmexit_cpuid}: the answer only moves rip
     * past the instruction, as xen-access does) and closes the monitor. Other CPUIDs are completed the same
     * way; other events are given back to the guest. A stop or failure before the harness puts the
     * parent's pause back as it was found.
     */
    private void runToHarness(boolean wasPaused) {
        int parent = target.parent();
        long leaf = target.startCpuidLeaf().getAsLong();
        boolean paused = wasPaused;
        boolean reached = false;
        Monitor pm;
        try {
            pm = Monitor.enable(xen, vm, foreign, parent);
        } catch (MonitorException e) {
            throw new FuzzException("monitoring domain " + parent + " for its harness CPUID: " + e.getMessage(), e);
        }
        Thread self = Thread.currentThread();
        StopRequest.Registration wake = stop.onRequest(self::interrupt);
        try {
            pm.monitor(MonitorEvent.CPUID, true);
            if (paused) {
                xen.unpauseDomain(parent);
                paused = false;
                if (xen.domainInfo(parent).has(DomainFlag.PAUSED)) {
                    // Paused more than once: it would never reach its harness. One of those pauses may be the one
                    // Monitor.enable takes and, if Xen refuses its unpause, only logs; so it stays paused once.
                    paused = true;
                    throw new FuzzRequestException("domain " + parent + " is still paused after one unpause: it was "
                            + "paused more than once (xl pause twice, or a pause a failed monitor set-up left); it is "
                            + "left paused once: give --start-cpuid again, or unpause it first");
                }
            }
            notices.accept("waiting for domain " + parent + " to execute CPUID leaf " + FuzzTarget.hex(leaf));
            while (!reached) {
                if (stop.requested()) {
                    throw stop.stopped("while domain " + parent + " ran towards its harness CPUID (leaf "
                            + FuzzTarget.hex(leaf) + ")", List.of(), List.of());
                }
                Optional<VmEventRequest> next;
                try {
                    next = pm.next(HARNESS_SLICE);
                } catch (InterruptedException e) {
                    continue; // a stop's wake-up: the loop's check says so
                }
                if (next.isEmpty()) {
                    continue;
                }
                VmEventRequest r = next.get();
                if (r.reasonName().equals("cpuid") && r.cpuidLeaf() == leaf) {
                    xen.pauseDomain(parent);
                    paused = true;
                    pm.respond(VmEventResponse.resume(r).withRip(r.rip() + r.insnLength()));
                    harnessRip = r.rip() + r.insnLength();
                    reached = true;
                } else if (r.reasonName().equals("cpuid")) {
                    pm.respond(VmEventResponse.resume(r).withRip(r.rip() + r.insnLength()));
                } else {
                    giveBack(pm, r);
                }
            }
            notices.accept("domain " + parent + " is paused at its harness: rip " + FuzzTarget.hex(harnessRip)
                    + ", past CPUID leaf " + FuzzTarget.hex(leaf));
        } catch (MonitorException e) {
            throw new FuzzException("domain " + parent + "'s harness CPUID: " + e.getMessage(), e);
        } finally {
            wake.close();
            Thread.interrupted(); // a stop's wake-up must not break the tear-down's I/O
            List<RuntimeException> failures = new ArrayList<>();
            if (!reached && paused != wasPaused) {
                boolean pauseIt = wasPaused;
                attempt(failures, () -> {
                    if (pauseIt) {
                        xen.pauseDomain(parent);
                    } else {
                        xen.unpauseDomain(parent);
                    }
                });
            }
            try {
                pm.close();
            } catch (RuntimeException e) {
                failures.add(e);
                attempt(failures, () -> disableAgain(parent));
            }
            if (!failures.isEmpty()) {
                RuntimeException first = failures.get(0);
                failures.subList(1, failures.size()).forEach(first::addSuppressed);
                throw new FuzzException("domain " + parent + ": undoing the harness monitor: " + first.getMessage(), first);
            }
        }
    }

    /** A second XEN_VM_EVENT_DISABLE after a monitor's close failed; EINVAL: the ring is gone already. */
    private void disableAgain(int domid) {
        try {
            vm.monitorDisable(domid);
        } catch (XenException e) {
            if (e.errno() != Errno.EINVAL) {
                throw e;
            }
        }
    }

    /** An event that is not ours: the guest's own exception is re-injected, and the vCPU resumed. */
    private static void giveBack(Monitor m, VmEventRequest r) {
        if (r.reasonName().equals("software_breakpoint") || r.reasonName().equals("debug_exception")) {
            m.reinject(r);
        }
        m.respond(VmEventResponse.resume(r));
    }

    /**
     * The breakpoints' guest-physical addresses (and what a hit of each means), and the input's frames:
     * as given, or translated through the parent's vCPU 0 page tables (reading the parent, writing nothing).
     */
    private List<Long> translate() {
        int parent = target.parent();
        GuestMemory parentMemory = new GuestMemory(new MappedPhysicalMemory(foreign, parent));
        PagingRegisters cpu = null;
        if (target.virtual()) {
            try {
                cpu = PagingRegisters.of(HvmContext.parse(xen.hvmContext(parent), xen.release()), 0);
            } catch (HvmContextException | GuestMemoryException e) {
                throw new FuzzException("domain " + parent + "'s vCPU 0 page-table registers: " + e.getMessage(), e);
            }
        }
        List<Long> physical = new ArrayList<>();
        for (long a : target.breakpoints()) {
            long p = physical(parentMemory, cpu, a, a == target.done() ? "the done breakpoint" : "the crash breakpoint");
            if (outcomes.containsKey(p)) {
                throw new FuzzRequestException("two breakpoints land on guest-physical " + FuzzTarget.hex(p)
                        + " (one of them " + FuzzTarget.hex(a) + "): give addresses of different instructions");
            }
            outcomes.put(p, a == target.done() ? Outcome.DONE : Outcome.crash(a));
            physical.add(p);
        }
        int size = target.inputSize();
        long start = target.inputAddress();
        int pages = (int) (((start & (Linux.PAGE_SIZE - 1)) + size + Linux.PAGE_SIZE - 1) / Linux.PAGE_SIZE);
        inputGfns = new long[pages];
        pageOffset = new int[pages];
        pageLength = new int[pages];
        int done = 0;
        for (int i = 0; i < pages; i++) {
            long at = start + done;
            long p = physical(parentMemory, cpu, at, "the input buffer");
            inputGfns[i] = p / Linux.PAGE_SIZE;
            pageOffset[i] = (int) (p & (Linux.PAGE_SIZE - 1));
            pageLength[i] = Math.min(Linux.PAGE_SIZE - pageOffset[i], size - done);
            for (long b : physical) {
                if (b >= p && b < p + pageLength[i]) {
                    throw new FuzzRequestException("the breakpoint at guest-physical " + FuzzTarget.hex(b)
                            + " is inside the input buffer (its bytes at " + FuzzTarget.hex(at) + "…): every input would "
                            + "overwrite it");
                }
            }
            done += pageLength[i];
        }
        buffer = new byte[size];
        return physical;
    }

    private long physical(GuestMemory memory, PagingRegisters cpu, long address, String what) {
        if (cpu == null) {
            return address;
        }
        try {
            return memory.translate(cpu, address).physicalAddress();
        } catch (GuestMemoryException e) {
            throw new FuzzException(what + " at guest-virtual " + FuzzTarget.hex(address) + " of domain "
                    + target.parent() + ": " + e.getMessage(), e);
        }
    }

    /** The parent. */
    public int parent() {
        return target.parent();
    }

    /** The sink fork, which holds the breakpoints. */
    public int sink() {
        return sink.domid();
    }

    /** The fuzz fork, which runs the inputs. */
    public int fork() {
        return fork.domid();
    }

    public FuzzTarget target() {
        return target;
    }

    /** Whether each hit's response resets the fork (Xen 4.17+), rather than a fork_reset after it. */
    public boolean resetsInResponse() {
        return monitor.canResetFork();
    }

    /** Where the parent was paused at its harness (past the CPUID), or -1 without a harness leaf. */
    public long harnessRip() {
        return harnessRip;
    }

    /**
     * One iteration: writes {@code input} (cut to the buffer's size; zeros after it), lets the fork run
     * until a done or crash breakpoint or the timeout, and resets it (see the class comment). The fork
     * is paused when this returns, at the parent's state again.
     *
     * @return {@link Outcome#DONE}, a crash (its address as the target gave it) or {@link Outcome#HANG}
     * @throws InterruptedException if the thread was interrupted while the fork ran (a stop): the fork is
     *                              left as it is, for {@link #close}; this fuzzer runs no more inputs
     * @throws FuzzException        if a step was refused; this fuzzer runs no more inputs
     */
    public Outcome run(byte[] input) throws InterruptedException {
        if (closed || broken) {
            throw new IllegalStateException(closed ? "the fuzzer is closed" : "the fuzzer failed earlier: close it");
        }
        boolean ok = false;
        try {
            write(input);
            fork.unpause();
            Outcome outcome = null;
            VmEventRequest hit = null;
            long deadline = System.nanoTime() + target.timeout().toNanos();
            long left;
            while (outcome == null && (left = deadline - System.nanoTime()) > 0) {
                Optional<VmEventRequest> next = monitor.next(Duration.ofNanos(left));
                if (next.isEmpty()) {
                    break;
                }
                outcome = ours(next.get());
                hit = outcome == null ? null : next.get();
            }
            fork.pause();
            while (outcome == null) { // a hit may have come between the timeout and the pause
                Optional<VmEventRequest> late = monitor.next(Duration.ZERO);
                if (late.isEmpty()) {
                    break;
                }
                outcome = ours(late.get());
                hit = outcome == null ? null : late.get();
            }
            if (hit != null && monitor.canResetFork()) {
                monitor.respond(VmEventResponse.resume(hit).withForkReset(true, true));
            } else {
                if (hit != null) {
                    monitor.respond(VmEventResponse.resume(hit));
                }
                fork.reset();
            }
            ok = true;
            return outcome == null ? Outcome.HANG : outcome;
        } catch (MonitorException e) {
            throw new FuzzException("the fuzz fork " + fork.domid() + ": " + e.getMessage(), e);
        } finally {
            broken = !ok;
        }
    }

    /** What a hit of one of our breakpoints means; null for an event that is not ours (given back). */
    private Outcome ours(VmEventRequest r) {
        if (breakpoints.isHit(r)) {
            Outcome o = outcomes.get(Breakpoints.address(r));
            if (o != null) {
                return o;
            }
        }
        giveBack(monitor, r);
        return null;
    }

    /** The input and zeros after it, into the fuzz fork's frames, mapped for this write only. */
    private void write(byte[] input) {
        int n = Math.min(input.length, buffer.length);
        System.arraycopy(input, 0, buffer, 0, n);
        Arrays.fill(buffer, n, buffer.length, (byte) 0);
        ForeignMapping m;
        try {
            m = foreign.map(fork.domid(), Linux.PROT_READ | Linux.PROT_WRITE, inputGfns);
        } catch (NativeException e) {
            throw new FuzzException("mapping the input buffer of the fuzz fork " + fork.domid() + ": " + e.getMessage(), e);
        }
        try {
            int bad = m.firstUnmappedPage();
            if (bad >= 0) {
                throw new FuzzException("the input buffer of the fuzz fork " + fork.domid() + " at gfn 0x"
                        + Long.toHexString(inputGfns[bad]) + " (input bytes from " + offsetOf(bad) + "): "
                        + ForeignMapping.describeFrameError(m.frameError(bad)), null);
            }
            int at = 0;
            for (int i = 0; i < inputGfns.length; i++) {
                m.write((long) i * Linux.PAGE_SIZE + pageOffset[i], buffer, at, pageLength[i]);
                at += pageLength[i];
            }
        } finally {
            m.close();
        }
    }

    private int offsetOf(int page) {
        int at = 0;
        for (int i = 0; i < page; i++) {
            at += pageLength[i];
        }
        return at;
    }

    /**
     * Tears everything down (see the class comment); idempotent. The first failure is thrown at the end,
     * the others suppressed, naming what may be left and how to remove it.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<RuntimeException> failures = new ArrayList<>();
        List<String> left = new ArrayList<>();
        if (monitor != null) {
            attempt(failures, monitor::close);
        }
        if (fork != null) {
            destroy(fork, "the fuzz fork", failures, left);
        }
        if (breakpoints != null && sink != null) {
            attempt(failures, () -> {
                try {
                    breakpoints.removeAll();
                } catch (GuestMemoryException e) {
                    throw new FuzzException("taking the breakpoints out of the sink " + sink.domid() + ": "
                            + e.getMessage(), e);
                }
            });
        }
        if (sink != null) {
            destroy(sink, "the sink", failures, left);
        }
        if (vm != null) {
            attempt(failures, vm::close);
        }
        if (!failures.isEmpty()) {
            RuntimeException first = failures.get(0);
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw new FuzzException("tearing down the fuzzer of domain " + target.parent() + ": " + first.getMessage()
                    + (left.isEmpty() ? "" : "; left behind: " + String.join(", ", left)), first);
        }
    }

    /** Destroys a fork, trying once more if Xen refuses the first time. */
    private static void destroy(VmFork f, String what, List<RuntimeException> failures, List<String> left) {
        try {
            f.destroy();
        } catch (ForkException first) {
            try {
                f.destroy();
            } catch (ForkException again) {
                again.addSuppressed(first);
                failures.add(again);
                left.add(what + " " + f.domid() + " (xenfork destroy " + f.domid() + ")");
            }
        }
    }

    private static void attempt(List<RuntimeException> failures, Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            failures.add(e);
        }
    }
}
