package org.xenfork.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.Forker;
import org.xenfork.fork.VmFork;
import org.xenfork.privcmd.DomainConfig;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;

/**
 * Java-side cost of the fork workflow (docs/PERFORMANCE.md, "Fork and reset"),
 * on a machine without Xen:
 * <ul>
 *   <li>{@link #forkAndDestroyOnSim}: {@code Forker.fork} of a paused parent (getdomaininfo,
 *       createdomain, the fork memory_op in a multicall) and {@code VmFork.close} (destroydomain),
 *       on the simulator — our encoding and the simulator's model together;</li>
 *   <li>{@link #rawForkAndDestroyOnSim}: the same three hypercalls through {@code Hypervisor} alone,
 *       without the workflow (no parent check, no UUID, no rollback bookkeeping): the difference
 *       to the line above is what {@code Forker} adds;</li>
 *   <li>{@link #resetOnSim}: {@code VmFork.reset()} on the simulator, which copies the parent's
 *       context back into the fork as Xen does (that copy is the simulator's, not ours);</li>
 *   <li>{@link #resetJavaOnly}: the same call, {@code Hypervisor.forkReset}, with the hypercall
 *       answered in Java ({@link FifoSeam#withoutSyscall}): what xenfork itself does per reset.
 *       {@code VmFork.reset()} adds two field reads to it. The goal is 0 B/op.</li>
 * </ul>
 * Not a test: nothing here runs under {@code mvn test}. Run with {@code -prof gc} for B/op.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
public class ForkCostBenchmark {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");

    private Privcmd simPrivcmd;
    private Hypervisor simXen;
    private Forker forker;
    private int parent;
    private VmFork fork;
    private DomainConfig rawConfig;
    private final ForkOptions paused = ForkOptions.DEFAULT.paused();

    private FifoSeam fifo;
    private Privcmd javaPrivcmd;
    private Hypervisor javaXen;
    private int resetFlags;

    @Setup
    public void setUp() throws Exception {
        SimXen sim = SimXen.create(XEN_4_17);
        parent = sim.addGuest(GuestSpec.hvm("parent", 1, 4096).paused()).domid();
        simPrivcmd = Privcmd.open(new SimulatedSeam(sim));
        simXen = Hypervisor.open(simPrivcmd, null, null, false);
        forker = new Forker(simXen, DomainNames.NONE, notice -> { });
        fork = forker.fork(parent, paused);
        rawConfig = forker.childConfig(simXen.domainInfo(parent));

        fifo = FifoSeam.create();
        javaPrivcmd = Privcmd.open(fifo.withoutSyscall());
        javaXen = Hypervisor.open(javaPrivcmd, XEN_4_17, null, false);
        resetFlags = forker.resetFlags(true, true);
    }

    @TearDown
    public void tearDown() throws Exception {
        fork.close();
        for (AutoCloseable c : new AutoCloseable[] {simXen, simPrivcmd, javaXen, javaPrivcmd, fifo}) {
            c.close();
        }
    }

    @Benchmark
    public int forkAndDestroyOnSim() {
        try (VmFork f = forker.fork(parent, paused)) {
            return f.domid();
        }
    }

    @Benchmark
    public int rawForkAndDestroyOnSim() {
        int child = simXen.createDomain(0, rawConfig);
        simXen.fork(parent, child, 0);
        simXen.destroyDomain(child);
        return child;
    }

    @Benchmark
    public void resetOnSim() {
        fork.reset();
    }

    @Benchmark
    public void resetJavaOnly() {
        javaXen.forkReset(1, resetFlags);
    }
}
