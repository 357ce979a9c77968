package org.xenfork.bench;

import java.time.Duration;
import java.util.Optional;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.VmEventHypercalls;
import org.xenfork.vmi.Breakpoints;
import org.xenfork.vmi.GuestMemory;
import org.xenfork.vmi.GuestMemoryException;
import org.xenfork.vmi.MappedPhysicalMemory;
import org.xenfork.vmi.Monitor;
import org.xenfork.vmi.VmEventRequest;
import org.xenfork.vmi.VmEventResponse;

/**
 * The vm_event round trip on a real Xen, for comparison with the rig's C program
 * ({@code xcbench events FORK GPA N}: libxenctrl's {@code xc_monitor_*} and libxenevtchn, as
 * xen-access uses them) in the same boot: the same paused fork, the same address, the same N.
 * An ICEBP at guest-physical GPA ({@link Breakpoints.Instruction#ICEBP}), each request answered
 * with a plain resume, so the vCPU runs into it again:
 * <ul>
 *   <li>events.java.roundtrip: from one request returned by {@link Monitor#next} to the next (the answer,
 *       Xen's resume, the guest's exit, the request, the signal, the wait): xcbench's events.roundtrip;</li>
 *   <li>events.java.answer: {@link Monitor#respond} alone: xcbench's events.answer;</li>
 *   <li>events.java.rate: requests per second over the timed loop.</li>
 * </ul>
 *
 * <pre>
 *   java -cp bench/target/benchmarks.jar org.xenfork.bench.RigEventRate FORK GPA N [WARMUP]
 * </pre>
 *
 * FORK must be paused (a fork made with {@code xenfork fork-vm -p}); it is paused again at the end,
 * with its byte back, the events and the ring off. WARMUP (default 2000) untimed events come first.
 * Not a test; a loop rather than JMH for the reasons RigMapRate gives.
 */
public final class RigEventRate {
    private RigEventRate() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3 || args.length > 4) {
            System.err.println("usage: RigEventRate FORK GPA N [WARMUP]   (GPA decimal or 0x hex)");
            System.exit(2);
        }
        int domid = Integer.parseInt(args[0]);
        long gpa = Long.decode(args[1]);
        int n = Integer.parseInt(args[2]);
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 2000;
        if (n < 2 || warmup < 0) {
            System.err.println("RigEventRate: N must be at least 2 and WARMUP at least 0");
            System.exit(2);
        }
        long[] roundtrip = new long[n - 1];
        long[] answer = new long[n];
        try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
             Hypervisor xen = Hypervisor.open(privcmd, null, null, false);
             VmEventHypercalls vm = VmEventHypercalls.open(xen)) {
            ForeignMemory foreign = new ForeignMemory(privcmd);
            GuestMemory memory = new GuestMemory(new MappedPhysicalMemory(foreign, domid));
            long start = 0;
            long prev = 0;
            try (Monitor m = Monitor.enable(xen, vm, foreign, domid)) {
                Breakpoints bps = new Breakpoints(memory, Breakpoints.Instruction.ICEBP, Breakpoints.Journal.NONE);
                m.monitor(bps.instruction().event(), true);
                bps.insert(gpa);
                xen.unpauseDomain(domid);
                try {
                    for (int k = -warmup; k < n; k++) {
                        Optional<VmEventRequest> next = m.next(Duration.ofSeconds(10));
                        long t0 = System.nanoTime();
                        VmEventRequest r = next.orElseThrow(() -> new IllegalStateException("no event in 10 s"));
                        if (!bps.isHit(r)) {
                            throw new IllegalStateException("a " + r.reasonName() + " request at rip 0x"
                                    + Long.toHexString(r.rip()) + ", not the ICEBP at 0x" + Long.toHexString(gpa));
                        }
                        m.respond(VmEventResponse.resume(r));
                        long t1 = System.nanoTime();
                        if (k == 0) {
                            start = t0;
                        }
                        if (k > 0) {
                            roundtrip[k - 1] = t0 - prev;
                        }
                        if (k >= 0) {
                            answer[k] = t1 - t0;
                        }
                        prev = t0;
                    }
                } finally {
                    xen.pauseDomain(domid);
                    removeQuietly(bps);
                }
            }
            BenchLines.reportFine("events.java.roundtrip", roundtrip);
            BenchLines.reportFine("events.java.answer", answer);
            long wall = prev - start;
            System.out.printf("BENCH name=events.java.rate n=%d wall_s=%.3f per_s=%.2f%n", n - 1, wall / 1e9,
                    (n - 1) / (wall / 1e9));
        }
    }

    private static void removeQuietly(Breakpoints bps) {
        try {
            bps.removeAll();
        } catch (GuestMemoryException e) {
            System.err.println("RigEventRate: putting the original byte back: " + e.getMessage());
        }
    }
}
