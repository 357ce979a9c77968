package org.xenfork.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.xenfork.abi.Values;
import org.xenfork.fork.StopRequest;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.ForeignMemory;
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
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork monitor}: a domain's breakpoints and CPUID instructions as vm_event monitor events,
 * through the {@code vmi} module's {@link Monitor}, with a record on disk of everything it changes
 * ({@link MonitorRecord}) so that {@code --cleanup} can undo what a dead monitor left.
 */
@Command(name = "monitor",
        description = "Print a domain's breakpoint and CPUID events (the vm_event monitor ring), then put everything back.",
        footer = {"", "Each --breakpoint ADDRESS (decimal or 0x-hex; guest-physical, or guest-virtual with --virtual through",
            "the page tables of vCPU --vcpu, default 0) gets a one-byte trapping instruction, its original byte",
            "saved first in /run/xenfork/monitor/DOMID: icebp (0xF1, the default), reported to the monitor as a",
            "debug exception, or int3 (0xCC), reported as a software breakpoint. Both work on Intel VT-x and AMD",
            "SVM; icebp also under QEMU's emulated SVM, which gives an int3 to the guest instead.",
            "A domain found paused is let run, and paused again at the end.",
            "One line per event on stdout; with --json one object per line: {\"vcpu\", \"reason\" (breakpoint, cpuid),",
            "\"rip\", \"gfn\" (0x-hex strings; gfn null for cpuid), \"leaf\", \"subleaf\" (cpuid)}.",
            "A breakpoint is passed by single-stepping over the original instruction where the hypervisor offers",
            "single-step (Intel VT-x); elsewhere (AMD SVM) it is removed after its first hit, and said so.",
            "A monitored CPUID is passed as Xen's xen-access does: rip moves past it, with the result Xen computed.",
            "Stops after --count N events, --timeout S seconds or Ctrl-C; then every original byte is put back, the",
            "events and the ring are switched off, and the record removed. If xenfork dies first, run",
            "  xenfork monitor --cleanup DOMAIN",
            "which restores the recorded bytes, disables the ring and resumes vCPUs left waiting; a new monitor of",
            "a domain with a record refuses to start (exit 2) until then.",
            "Examples:", "  xenfork monitor 5 --breakpoint 0x100000 --count 1 --json",
            "  xenfork monitor fork1 --breakpoint 0xffffffff81000000 --virtual --vcpu 0 --timeout 30",
            "  xenfork monitor 5 --cpuid --count 10", "  xenfork monitor --cleanup 5"})
final class MonitorCommand implements Runnable {
    /** Breakpoints one command may set. */
    static final int MAX_BREAKPOINTS = Breakpoints.MAX;

    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain id or name (an HVM or PVH domain).")
    String domain;

    @Option(names = "--breakpoint", paramLabel = "ADDRESS", description = "Insert a breakpoint here (repeatable).")
    List<String> breakpoints = new ArrayList<>();

    /** The command line's names of {@link Breakpoints.Instruction}. */
    enum BreakpointInsn {
        icebp(Breakpoints.Instruction.ICEBP), int3(Breakpoints.Instruction.INT3);

        final Breakpoints.Instruction instruction;

        BreakpointInsn(Breakpoints.Instruction instruction) {
            this.instruction = instruction;
        }
    }

    @Option(names = "--breakpoint-insn", paramLabel = "icebp|int3",
            description = "The breakpoint instruction: icebp (0xF1, default) or int3 (0xCC).")
    BreakpointInsn breakpointInsn;

    @Option(names = "--virtual", description = "The breakpoint addresses are guest-virtual.")
    boolean virtual;

    @Option(names = "--vcpu", paramLabel = "N", description = "The vCPU whose page tables translate (with --virtual; default 0).")
    Integer vcpu;

    @Option(names = "--cpuid", description = "Report every CPUID the guest executes.")
    boolean cpuid;

    @Option(names = "--count", paramLabel = "N", description = "Stop after N events.")
    Long count;

    @Option(names = "--timeout", paramLabel = "S", description = "Stop after S seconds.")
    Long timeout;

    @Option(names = "--cleanup", description = "Undo what a monitor of DOMAIN that died left (from its record), and nothing else.")
    boolean cleanup;

    @Option(names = "--capabilities", description = "Print the events the hypervisor offers to monitor for DOMAIN, and nothing else.")
    boolean capabilities;

    @Override
    public void run() {
        check();
        DomainArgument arg = DomainArgument.parse(domain, cleanup ? "clean up after a monitor of" : "monitor");
        List<Long> addresses = new ArrayList<>();
        for (String a : breakpoints) {
            addresses.add(MemCommand.address(a, "--breakpoint ADDRESS"));
        }
        if (cleanup) {
            try (Backend b = Backend.open(root, spec.commandLine().getErr())) {
                cleanup(b, arg.resolve(b));
            }
            return;
        }
        if (capabilities) {
            try (Backend b = Backend.open(root, spec.commandLine().getErr()); VmEventHypercalls vm = VmEventHypercalls.open(b.xen())) {
                printCapabilities(arg.resolve(b), vm);
            }
            return;
        }
        StopRequest stop = root.signals.install(spec.commandLine().getErr());
        try (Backend b = Backend.open(root, spec.commandLine().getErr())) {
            monitor(b, arg.resolve(b), addresses, stop);
        }
    }

    /**
     * {@code XEN_DOMCTL_MONITOR_OP_GET_CAPABILITIES}, as a bitmap and by name: each
     * {@code XEN_DOMCTL_MONITOR_EVENT_*} of the release whose bit is set, in lower case.
     */
    private void printCapabilities(int d, VmEventHypercalls vm) {
        int caps = vm.monitorCapabilities(d);
        String prefix = "XEN_DOMCTL_MONITOR_EVENT_";
        List<String> names = new ArrayList<>();
        vm.abi().constants().entrySet().stream()
                .filter(e -> e.getKey().startsWith(prefix) && e.getValue() >= 0 && e.getValue() < 32)
                .sorted(Map.Entry.comparingByValue())
                .filter(e -> (caps & (1 << e.getValue())) != 0)
                .forEach(e -> names.add(e.getKey().substring(prefix.length()).toLowerCase(java.util.Locale.ROOT)));
        PrintWriter out = spec.commandLine().getOut();
        if (root.json) {
            ObjectNode o = AbiCommand.JSON.createObjectNode().put("domid", d).put("capabilities", Values.hex(caps & 0xffffffffL));
            names.forEach(o.putArray("events")::add);
            out.println(o);
        } else {
            out.println("domain " + d + " capabilities " + Values.hex(caps & 0xffffffffL) + ": " + String.join(" ", names));
        }
    }

    private void check() {
        if (capabilities) {
            if (cleanup || !breakpoints.isEmpty() || breakpointInsn != null || virtual || vcpu != null || cpuid
                    || count != null || timeout != null) {
                throw new UsageException("--capabilities only asks what the hypervisor offers, and takes no other option");
            }
            return;
        }
        if (root.dryRun) {
            throw new UsageException("monitor writes breakpoints into the guest and waits for its events: it has no --dry-run "
                    + "(use --trace to see its hypercalls)");
        }
        if (cleanup) {
            if (!breakpoints.isEmpty() || breakpointInsn != null || virtual || vcpu != null || cpuid || count != null
                    || timeout != null) {
                throw new UsageException("--cleanup undoes a dead monitor's record and takes no other option");
            }
            return;
        }
        if (breakpoints.isEmpty() && !cpuid) {
            throw new UsageException("nothing to monitor: give --breakpoint ADDRESS (repeatable) and/or --cpuid");
        }
        if (breakpoints.size() > MAX_BREAKPOINTS) {
            throw new UsageException("at most " + MAX_BREAKPOINTS + " --breakpoint addresses, not " + breakpoints.size());
        }
        if (breakpointInsn != null && breakpoints.isEmpty()) {
            throw new UsageException("--breakpoint-insn chooses the instruction of --breakpoint addresses: give one");
        }
        if (vcpu != null && !virtual) {
            throw new UsageException("--vcpu chooses the page tables of guest-virtual addresses: give --virtual too");
        }
        if (virtual && breakpoints.isEmpty()) {
            throw new UsageException("--virtual is about --breakpoint addresses: give one");
        }
        if (vcpu != null && vcpu < 0) {
            throw new UsageException("--vcpu must be 0 or more, not " + vcpu);
        }
        if (count != null && count < 1) {
            throw new UsageException("--count must be 1 or more, not " + count);
        }
        if (timeout != null && (timeout < 0 || timeout > 366L * 24 * 3600)) {
            throw new UsageException("--timeout must be 0 to 31622400 seconds, not " + timeout);
        }
    }

    private Path records() {
        return root.monitorRecords;
    }

    private void monitor(Backend b, int d, List<Long> addresses, StopRequest stop) {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (MonitorRecord.read(records(), d).isPresent()) {
            throw new UsageException("a xenfork monitor of domain " + d + " did not finish (its record "
                    + MonitorRecord.path(records(), d) + " is there): run  xenfork monitor --cleanup " + d + "  first");
        }
        DomainInfo info = b.xen().domainInfo(d);
        boolean wasPaused = info.has(DomainFlag.PAUSED);
        ForeignMemory foreign = new ForeignMemory(b.privcmd());
        GuestMemory memory = new GuestMemory(new MappedPhysicalMemory(foreign, d));
        List<Long> physical = physical(b, d, memory, addresses);
        Breakpoints.Instruction insn = (breakpointInsn == null ? BreakpointInsn.icebp : breakpointInsn).instruction;
        Journal journal = new Journal(info.handle(), d, insn);
        journal.ring = true;
        journal.save(); // before the ring exists: a crash from here on leaves a record
        RuntimeException primary = null;
        List<RuntimeException> undo = new ArrayList<>();
        try (VmEventHypercalls vm = VmEventHypercalls.open(b.xen())) {
            Monitor m = null;
            try {
                m = Monitor.enable(b.xen(), vm, foreign, d); // rolls itself back on failure
            } catch (MonitorException e) {
                primary = new RefusedException(e.getMessage(), e);
            }
            if (m != null) {
                Breakpoints bps = new Breakpoints(memory, insn, journal);
                boolean[] unpaused = {false};
                try {
                    run(b, d, m, bps, physical, wasPaused, unpaused, stop, out, err);
                } catch (MonitorException e) {
                    primary = new RefusedException(e.getMessage(), e);
                } catch (RuntimeException e) {
                    primary = e;
                }
                if (unpaused[0]) {
                    attempt(undo, () -> b.xen().pauseDomain(d)); // as it was found
                }
                attempt(undo, () -> {
                    try {
                        bps.removeAll();
                    } catch (GuestMemoryException e) {
                        throw new RefusedException("domain " + d + ": putting the original bytes back: " + e.getMessage(), e);
                    }
                });
                attempt(undo, m::close);
            }
        }
        if (!undo.isEmpty()) {
            RuntimeException first = undo.get(0);
            undo.subList(1, undo.size()).forEach(first::addSuppressed);
            if (primary != null) {
                first.addSuppressed(primary);
            }
            throw new RefusedException((primary != null ? primary.getMessage() + "; then " : "") + first.getMessage()
                    + "; what may be left is recorded in " + MonitorRecord.path(records(), d)
                    + ": run  xenfork monitor --cleanup " + d, first);
        }
        try {
            MonitorRecord.delete(records(), d); // everything it lists is undone
        } catch (IOException e) {
            throw new RefusedException("domain " + d + " is as it was, but its record " + MonitorRecord.path(records(), d)
                    + " could not be removed: " + e.getMessage() + "; remove it by hand", e);
        }
        if (primary != null) {
            throw primary;
        }
    }

    /** Events on, breakpoints in, the domain let run, the events until a stop. */
    private void run(Backend b, int d, Monitor m, Breakpoints bps, List<Long> physical, boolean wasPaused,
                     boolean[] unpaused, StopRequest stop, PrintWriter out, PrintWriter err) {
        boolean step = !physical.isEmpty() && m.offers(MonitorEvent.SINGLESTEP);
        if (!physical.isEmpty()) {
            m.monitor(bps.instruction().event(), true);
            if (step) {
                m.monitor(MonitorEvent.SINGLESTEP, true);
            }
        }
        if (cpuid) {
            m.monitor(MonitorEvent.CPUID, true);
        }
        for (long a : physical) {
            try {
                bps.insert(a);
            } catch (GuestMemoryException e) {
                throw new RefusedException("domain " + d + ": no breakpoint at " + Values.hex(a) + ": "
                        + e.getMessage(), e);
            }
        }
        if (!physical.isEmpty() && !step) {
            err.println("xenfork: this hypervisor offers no single-step for domain " + d + " (AMD SVM): each "
                    + "breakpoint is removed after its first hit");
        }
        if (wasPaused) {
            b.xen().unpauseDomain(d);
            unpaused[0] = true;
        }
        long events = loop(m, bps, step, stop, out, err);
        err.println("xenfork: " + events + " event" + (events == 1 ? "" : "s") + " from domain " + d
                + (stop.requested() ? "; stopped by " + stop.reason().orElse("a signal") : ""));
    }

    /** The events until --count, --timeout or a stop; returns how many were printed. */
    private long loop(Monitor m, Breakpoints bps, boolean step, StopRequest stop, PrintWriter out, PrintWriter err) {
        long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + Duration.ofSeconds(timeout).toNanos();
        Map<Integer, Long> stepping = new HashMap<>(); // vCPU -> the breakpoint it steps over
        long events = 0;
        // A stop wakes the wait on the event channel rather than interrupting this thread: an interrupt
        // landing while the journal is being written would close its FileChannel (ClosedByInterruptException).
        StopRequest.Registration wake = stop.onRequest(m::wakeUp);
        try {
            while ((count == null || events < count) && !stop.requested()) {
                long left = deadline == Long.MAX_VALUE ? Duration.ofDays(1).toNanos() : deadline - System.nanoTime();
                Optional<VmEventRequest> next;
                try {
                    next = m.next(Duration.ofNanos(Math.max(0, left)));
                } catch (InterruptedException e) {
                    break; // not ours (a stop wakes, see above), but an interrupt asks for an end as well
                }
                if (next.isEmpty()) {
                    if (deadline != Long.MAX_VALUE) {
                        break;
                    }
                    continue;
                }
                VmEventRequest r = next.get();
                events += answer(m, bps, step, stepping, r, out, err) ? 1 : 0;
            }
        } catch (GuestMemoryException e) {
            throw new RefusedException("domain " + m.domid() + ": " + e.getMessage(), e);
        } finally {
            wake.close();
        }
        return events;
    }

    /** Answers one request; true if it was an event to print (it was printed). */
    private boolean answer(Monitor m, Breakpoints bps, boolean step, Map<Integer, Long> stepping, VmEventRequest r,
                           PrintWriter out, PrintWriter err) throws GuestMemoryException {
        switch (r.reasonName()) {
            case "software_breakpoint", "debug_exception" -> {
                long gpa = Breakpoints.address(r);
                if (!bps.isHit(r)) {
                    m.reinject(r); // the guest's own #BP or #DB: it gets it as if nobody watched
                    m.respond(VmEventResponse.resume(r));
                    return false;
                }
                print(out, r, "breakpoint");
                if (step) {
                    bps.lift(gpa);
                    stepping.put(r.vcpu(), gpa);
                    m.respond(VmEventResponse.resume(r).withToggleSinglestep());
                } else {
                    bps.remove(gpa);
                    err.println("xenfork: breakpoint at " + Values.hex(gpa) + " removed after its hit");
                    m.respond(VmEventResponse.resume(r));
                }
                return true;
            }
            case "singlestep" -> {
                Long gpa = stepping.remove(r.vcpu());
                if (gpa != null && bps.contains(gpa)) {
                    bps.reinsert(gpa);
                }
                m.respond(VmEventResponse.resume(r).withToggleSinglestep());
                return false;
            }
            case "cpuid" -> {
                print(out, r, "cpuid");
                m.respond(VmEventResponse.resume(r).withRip(r.rip() + r.insnLength()));
                return true;
            }
            default -> {
                m.respond(VmEventResponse.resume(r));
                return false;
            }
        }
    }

    private void print(PrintWriter out, VmEventRequest r, String reason) {
        boolean isCpuid = reason.equals("cpuid");
        if (root.json) {
            ObjectNode o = AbiCommand.JSON.createObjectNode().put("vcpu", r.vcpu()).put("reason", reason)
                    .put("rip", Values.hex(r.rip()));
            if (isCpuid) {
                o.putNull("gfn").put("leaf", Values.hex(r.cpuidLeaf())).put("subleaf", Values.hex(r.cpuidSubleaf()));
            } else {
                o.put("gfn", Values.hex(r.gfn()));
            }
            out.println(o);
        } else if (isCpuid) {
            out.println("vcpu " + r.vcpu() + " cpuid rip " + Values.hex(r.rip()) + " leaf " + Values.hex(r.cpuidLeaf())
                    + " subleaf " + Values.hex(r.cpuidSubleaf()));
        } else {
            out.println("vcpu " + r.vcpu() + " breakpoint rip " + Values.hex(r.rip()) + " gfn " + Values.hex(r.gfn()));
        }
        out.flush();
    }

    /** The breakpoint addresses as guest-physical ones (translated through vCPU --vcpu's page tables with --virtual). */
    private List<Long> physical(Backend b, int d, GuestMemory memory, List<Long> addresses) {
        if (!virtual) {
            return addresses;
        }
        PagingRegisters cpu = MemCommand.registers(b, d, vcpu == null ? 0 : vcpu);
        List<Long> out = new ArrayList<>();
        for (long va : addresses) {
            try {
                out.add(memory.translate(cpu, va).physicalAddress());
            } catch (GuestMemoryException e) {
                throw new RefusedException("domain " + d + ": no breakpoint at virtual " + Values.hex(va) + ": "
                        + e.getMessage(), e);
            }
        }
        return out;
    }

    /** The record of this run, rewritten before each change it lists and after each undo. */
    private final class Journal implements Breakpoints.Journal {
        private final byte[] handle;
        private final int domid;
        private final Breakpoints.Instruction instruction;
        private final Map<Long, Byte> inserted = new LinkedHashMap<>();
        boolean ring;

        Journal(byte[] handle, int domid, Breakpoints.Instruction instruction) {
            this.handle = handle.clone();
            this.domid = domid;
            this.instruction = instruction;
        }

        void save() {
            try {
                new MonitorRecord(handle, ring, instruction, inserted).write(records(), domid);
            } catch (IOException e) {
                throw new RefusedException("cannot write the monitor record " + MonitorRecord.path(records(), domid)
                        + ": " + e.getMessage() + "; nothing was changed in domain " + domid, e);
            }
        }

        @Override
        public void inserting(long address, byte original) {
            inserted.put(address, original);
            save();
        }

        @Override
        public void removed(long address) {
            inserted.remove(address);
            save();
        }
    }

    /**
     * {@code --cleanup}: for the domain the record names (same handle), puts back each recorded byte that
     * still holds the breakpoint instruction, disables a ring left enabled, and resumes vCPUs left waiting for an answer
     * (a fresh ring, one resume per vCPU, closed again); then removes the record.
     */
    private void cleanup(Backend b, int d) {
        PrintWriter err = spec.commandLine().getErr();
        Optional<MonitorRecord> found = MonitorRecord.read(records(), d);
        if (found.isEmpty()) {
            err.println("xenfork: no monitor record for domain " + d + " (" + MonitorRecord.path(records(), d)
                    + "): nothing to clean up");
            return;
        }
        MonitorRecord rec = found.get();
        DomainInfo info;
        try {
            info = b.xen().domainInfo(d);
        } catch (XenException e) {
            info = null;
        }
        if (info == null || !Arrays.equals(info.handle(), rec.handle)) {
            deleteRecord(d);
            err.println("xenfork: the domain the record names is gone (domain " + d + " is "
                    + (info == null ? "no more" : "another domain now") + "); record removed");
            return;
        }
        GuestMemory memory = new GuestMemory(new MappedPhysicalMemory(new ForeignMemory(b.privcmd()), d));
        b.xen().pauseDomain(d);
        List<RuntimeException> failures = new ArrayList<>();
        int restored = 0;
        try {
            for (Map.Entry<Long, Byte> e : rec.breakpoints.entrySet()) {
                try {
                    byte now = memory.readPhysical(e.getKey(), 1)[0];
                    if (now == rec.instruction.opcode()) {
                        memory.writePhysical(e.getKey(), new byte[] {e.getValue()}, 0, 1);
                        restored++;
                    } else {
                        err.println("xenfork: " + Values.hex(e.getKey()) + " no longer holds the "
                                + rec.instruction.name().toLowerCase(java.util.Locale.ROOT) + " (0x"
                                + String.format("%02x", now & 0xff) + "): left as it is");
                    }
                } catch (GuestMemoryException ex) {
                    failures.add(new RefusedException("domain " + d + ": restoring " + Values.hex(e.getKey()) + ": "
                            + ex.getMessage(), ex));
                }
            }
            if (rec.ring) {
                try (VmEventHypercalls vm = VmEventHypercalls.open(b.xen())) {
                    attempt(failures, () -> {
                        try {
                            vm.monitorDisable(d);
                            err.println("xenfork: the monitor ring of domain " + d + " was enabled: disabled");
                        } catch (XenException e) {
                            if (e.errno() != org.xenfork.privcmd.Errno.EINVAL) { // EINVAL: no ring was enabled
                                throw e;
                            }
                        }
                    });
                    attempt(failures, () -> {
                        b.xen().unpauseDomain(d); // Monitor.enable pauses it itself
                        try (Monitor m = Monitor.enable(b.xen(), vm, new ForeignMemory(b.privcmd()), d)) {
                            m.resumeWaitingVcpus(info(b, d).maxVcpus());
                        } finally {
                            b.xen().pauseDomain(d);
                        }
                    });
                }
            }
        } finally {
            attempt(failures, () -> b.xen().unpauseDomain(d));
        }
        if (!failures.isEmpty()) {
            RuntimeException first = failures.get(0);
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw new RefusedException(first.getMessage() + "; the record stays: run --cleanup again", first);
        }
        deleteRecord(d);
        err.println("xenfork: domain " + d + ": " + restored + " original byte" + (restored == 1 ? "" : "s")
                + " put back; record removed");
    }

    private static DomainInfo info(Backend b, int d) {
        return b.xen().domainInfo(d);
    }

    private void deleteRecord(int d) {
        try {
            MonitorRecord.delete(records(), d);
        } catch (IOException e) {
            throw new RefusedException("cannot remove " + MonitorRecord.path(records(), d) + ": " + e.getMessage(), e);
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
