package org.xenfork.bench;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.HypercallBuffer;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.Privcmd;

/**
 * Java cost of one hypercall, layer by layer, on a machine without Xen: privcmd's fd
 * is a FIFO and the hypercall ioctl is FIONREAD on it ({@link FifoSeam}), a real
 * syscall that returns at once. Compare with {@code src/main/c/hypercall_cost.c};
 * {@code bench/run-hypercall-cost.sh} runs both (docs/PERFORMANCE.md).
 *
 * <ul>
 *   <li>{@link #typedDomainInfo}: {@code Hypervisor.domainInfo(0)} — zero the 144-byte domctl image,
 *       set cmd/interface_version/domain, copy to the hypercall buffer, raw hypercall, copy back,
 *       decode a {@link DomainInfo};</li>
 *   <li>{@link #rawHypercall}: {@code Privcmd.hypercall(__HYPERVISOR_domctl, addr, 0...)} — the
 *       48-byte privcmd_hypercall written to its buffer, then the ioctl;</li>
 *   <li>{@link #bareIoctl}: {@code LinuxSeam.ioctl(fifoFd, FIONREAD, addr)} — jnr-ffi to libc and the syscall.</li>
 * </ul>
 * Controls, to explain the gaps between those three:
 * <ul>
 *   <li>{@link #typedDomainInfoNoSyscall}: the typed path with the ioctl answered in Java (no kernel entry):
 *       the Java work alone;</li>
 *   <li>{@link #rawHypercallNoSyscall}: {@code Privcmd.hypercall} likewise: building and copying the
 *       48-byte privcmd_hypercall;</li>
 *   <li>{@link #namesOnceNoSyscall}: the same call with every field and constant resolved once
 *       ({@link PrecomputedDomainInfo}), a prototype of the change proposed for privcmd;</li>
 *   <li>{@link #protoNoSyscall} / {@link #protoDomainInfo}: that, plus whole leaves read and written with
 *       VarHandles (the change proposed for abi's {@code Leaf}), without and with the syscall;</li>
 *   <li>{@link #copyInOut144}: the two 144-byte copies image to buffer and back (jffi MemoryIO);</li>
 *   <li>{@link #ffiNoSyscall}: a jnr-ffi call into libc that makes no syscall ({@code labs});</li>
 *   <li>{@link #timerBaseline}: nothing, to show what the timer adds to each sample.</li>
 * </ul>
 * SampleTime mode: each sampled call is timed on its own, so the median (p0.50) holds up when other
 * processes share the two cores; the mean does not.
 * Not a test: nothing here runs under {@code mvn test}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 4, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(3)
public class HypercallCostBenchmark {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");
    private static final long HYPERVISOR_DOMCTL = Abi.forRelease(XEN_4_17).constant("__HYPERVISOR_domctl");
    /** sizeof(struct xen_domctl): 144 bytes in 4.17. */
    private static final int DOMCTL_SIZE = Abi.forRelease(XEN_4_17).struct("xen_domctl").size();

    private FifoSeam seam;
    private Privcmd privcmd;
    private Hypervisor hypervisor;
    private PrecomputedDomainInfo proto;
    private Privcmd privcmdNoSyscall;
    private Hypervisor hypervisorNoSyscall;
    private PrecomputedDomainInfo namesOnceNoSyscall;
    private PrecomputedDomainInfo protoNoSyscall;
    private HypercallBuffer arg;
    private LinuxSeam linux;
    private int fifoFd;
    private long argAddress;
    private final byte[] image = new byte[DOMCTL_SIZE];
    private long ffiArg = -42;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        try {
            seam = FifoSeam.create();
            privcmd = Privcmd.open(seam);
            if (privcmd.buffers().usesHypercallDevice()) {
                throw new IllegalStateException("expected the anonymous MAP_LOCKED buffer fallback");
            }
            // XENVER_version comes back 0 from FIONREAD; the --xen override picks the 4.17 ABI.
            hypervisor = Hypervisor.open(privcmd, XEN_4_17, null, false);
            proto = new PrecomputedDomainInfo(privcmd, hypervisor.abi(), true);
            privcmdNoSyscall = Privcmd.open(seam.withoutSyscall());
            hypervisorNoSyscall = Hypervisor.open(privcmdNoSyscall, XEN_4_17, null, false);
            namesOnceNoSyscall = new PrecomputedDomainInfo(privcmdNoSyscall, hypervisorNoSyscall.abi(), false);
            protoNoSyscall = new PrecomputedDomainInfo(privcmdNoSyscall, hypervisorNoSyscall.abi(), true);
            arg = privcmd.buffers().acquire(DOMCTL_SIZE);
            argAddress = arg.address();
            linux = seam.linux();
            fifoFd = seam.openFifo();

            if (!hypervisor.release().equals(XEN_4_17)) {
                throw new IllegalStateException("not the 4.17 ABI: " + hypervisor.release());
            }
            PrecomputedDomainInfo.checkFastLeaves(hypervisor.abi().struct("xen_domctl"), 1);
            PrecomputedDomainInfo.checkFastLeaves(hypervisor.abi().struct("xen_domctl_getdomaininfo"), 2);
            DomainInfo d = hypervisor.domainInfo(0);
            for (DomainInfo p : new DomainInfo[] {proto.domainInfo(0), hypervisorNoSyscall.domainInfo(0),
                                                  namesOnceNoSyscall.domainInfo(0), protoNoSyscall.domainInfo(0)}) {
                if (p.domid() != d.domid() || p.flags() != d.flags() || p.totPages() != d.totPages()
                        || p.cpuTimeNs() != d.cpuTimeNs() || !Arrays.equals(p.handle(), d.handle())) {
                    throw new IllegalStateException("variants decode differently: " + p + " vs " + d);
                }
            }
        } catch (Exception | Error e) {
            tearDown(); // a failed setup must not leave the FIFO or fds behind
            throw e;
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        if (fifoFd > 0) {
            linux.close(fifoFd);
            fifoFd = 0;
        }
        for (PrecomputedDomainInfo p : new PrecomputedDomainInfo[] {protoNoSyscall, namesOnceNoSyscall, proto}) {
            if (p != null) {
                p.close();
            }
        }
        if (arg != null) {
            arg.close();
        }
        for (AutoCloseable c : new AutoCloseable[] {hypervisorNoSyscall, privcmdNoSyscall, hypervisor, privcmd, seam}) {
            if (c != null) {
                c.close();
            }
        }
        protoNoSyscall = namesOnceNoSyscall = proto = null;
        arg = null;
        hypervisorNoSyscall = null;
        privcmdNoSyscall = null;
        hypervisor = null;
        privcmd = null;
        seam = null;
    }

    // ---- the three layers ----

    @Benchmark
    public DomainInfo typedDomainInfo() {
        return hypervisor.domainInfo(0);
    }

    @Benchmark
    public int rawHypercall() throws NativeException {
        return privcmd.hypercall(HYPERVISOR_DOMCTL, argAddress, 0, 0, 0, 0);
    }

    @Benchmark
    public int bareIoctl() throws NativeException {
        return linux.ioctl(fifoFd, FifoSeam.FIONREAD, argAddress);
    }

    // ---- controls ----

    @Benchmark
    public DomainInfo typedDomainInfoNoSyscall() {
        return hypervisorNoSyscall.domainInfo(0);
    }

    @Benchmark
    public DomainInfo protoDomainInfo() {
        return proto.domainInfo(0);
    }

    @Benchmark
    public int rawHypercallNoSyscall() throws NativeException {
        return privcmdNoSyscall.hypercall(HYPERVISOR_DOMCTL, argAddress, 0, 0, 0, 0);
    }

    @Benchmark
    public DomainInfo namesOnceNoSyscall() {
        return namesOnceNoSyscall.domainInfo(0);
    }

    @Benchmark
    public DomainInfo protoNoSyscall() {
        return protoNoSyscall.domainInfo(0);
    }

    @Benchmark
    public byte[] copyInOut144() {
        linux.write(argAddress, image, 0, DOMCTL_SIZE);
        linux.read(argAddress, image, 0, DOMCTL_SIZE);
        return image;
    }

    /** An empty body: in SampleTime mode, the cost of the System.nanoTime pair around each sample. */
    @Benchmark
    public void timerBaseline() {
    }

    @Benchmark
    public long ffiNoSyscall() {
        return FfiControl.SAVE_ERROR.labs(ffiArg);
    }
}
