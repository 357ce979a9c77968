package org.xenfork.bench;

import org.xenfork.fork.DomainNames;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.Forker;
import org.xenfork.fork.VmFork;
import org.xenfork.privcmd.DomainConfig;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.Privcmd;

/**
 * Forks per second and resets per second on a real Xen, for comparison with the rig's
 * libxenctrl program ({@code xcbench fork PARENT N} / {@code xcbench reset FORK N}) in the
 * same boot: same parent, same N, each operation timed alone with {@code System.nanoTime}.
 * Prints lines in xcbench's format ({@code BENCH name=… n=… median_us=…}).
 *
 * <pre>
 *   java -cp bench/target/benchmarks.jar org.xenfork.bench.RigForkRate PARENT NFORK NRESET [WARMUP]
 * </pre>
 *
 * fork.total = {@code Forker.fork} + {@code VmFork.close}: the parent's getdomaininfo, createdomain,
 * XENMEM_sharing_op_fork (flags IOMMU_ALLOWED|BLOCK_INTERRUPTS, as xcbench), destroydomain;
 * raw.* = the three hypercalls xcbench makes, through {@code Hypervisor} directly, each timed
 * (raw.create, raw.fork, raw.destroy, raw.total), to tell the workflow's cost from the calls';
 * reset = XENMEM_sharing_op_fork_reset of state and memory on one paused fork.
 * WARMUP (default 5) untimed rounds of each come first: a fuzzer's JVM is warm.
 * Not a test. Needs root in a Xen dom0 with memory sharing.
 */
public final class RigForkRate {
    private RigForkRate() {
    }

    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: RigForkRate PARENT NFORK NRESET [WARMUP]");
            System.exit(2);
        }
        int parent = Integer.parseInt(args[0]);
        int n = Integer.parseInt(args[1]);
        int nReset = Integer.parseInt(args[2]);
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        ForkOptions options = ForkOptions.DEFAULT.paused().blockingInterrupts().allowingIommu();
        try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
             Hypervisor xen = Hypervisor.open(privcmd, null, null, false)) {
            Forker forker = new Forker(xen, DomainNames.NONE, notice -> System.out.println("BENCHINFO " + notice));
            System.out.println("BENCHINFO xen=" + xen.detectedRelease() + " parent=" + parent + " forks=" + n
                    + " resets=" + nReset + " warmup=" + warmup);
            for (int i = 0; i < warmup; i++) {
                forker.fork(parent, options).close();
            }
            long[] fork = new long[n];
            long start = System.nanoTime();
            for (int i = 0; i < n; i++) {
                long t0 = System.nanoTime();
                forker.fork(parent, options).close();
                fork[i] = System.nanoTime() - t0;
            }
            report("fork.total", fork, System.nanoTime() - start, "fork.rate");
            raw(xen, forker, parent, n, warmup);

            try (VmFork f = forker.fork(parent, options)) {
                for (int i = 0; i < warmup; i++) {
                    f.reset();
                }
                long[] reset = new long[nReset];
                start = System.nanoTime();
                for (int i = 0; i < nReset; i++) {
                    long t0 = System.nanoTime();
                    f.reset();
                    reset[i] = System.nanoTime() - t0;
                }
                report("reset", reset, System.nanoTime() - start, "reset.rate");
            }
        }
    }

    /** createdomain + fork + destroydomain through Hypervisor alone, each call timed, as xcbench does. */
    private static void raw(Hypervisor xen, Forker forker, int parent, int n, int warmup) {
        DomainConfig config = forker.childConfig(xen.domainInfo(parent));
        int flags = (int) (xen.abi().constant("XENMEM_FORK_WITH_IOMMU_ALLOWED") | xen.abi().constant("XENMEM_FORK_BLOCK_INTERRUPTS"));
        long[] create = new long[n];
        long[] fork = new long[n];
        long[] destroy = new long[n];
        long[] total = new long[n];
        for (int i = -warmup; i < n; i++) {
            long t0 = System.nanoTime();
            int child = xen.createDomain(0, config);
            long t1 = System.nanoTime();
            try {
                xen.fork(parent, child, flags);
            } finally {
                long t2 = System.nanoTime();
                xen.destroyDomain(child);
                long t3 = System.nanoTime();
                if (i >= 0) {
                    create[i] = t1 - t0;
                    fork[i] = t2 - t1;
                    destroy[i] = t3 - t2;
                    total[i] = t3 - t0;
                }
            }
        }
        BenchLines.report("raw.create", create);
        BenchLines.report("raw.fork", fork);
        BenchLines.report("raw.destroy", destroy);
        BenchLines.report("raw.total", total);
    }

    private static void report(String name, long[] ns, long wallNs, String rateName) {
        BenchLines.report(name, ns);
        System.out.printf("BENCH name=%s n=%d wall_s=%.3f per_s=%.1f%n", rateName, ns.length, wallNs / 1e9,
                ns.length / (wallNs / 1e9));
    }
}
