package org.xenfork.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.Privcmd;

/**
 * Mapping and reading one guest page through privcmd, for the rig's dom0 (it needs
 * {@code /dev/xen/privcmd} and a running guest: on the simulator the numbers would time Java
 * collections, not the kernel and Xen, so there is no simulated variant). Run as root in dom0:
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar org.openjdk.jmh.Main ForeignMapBenchmark -p domid=1 -p gfn=0x100
 * </pre>
 *
 * <ul>
 *   <li>{@link #mapReadUnmap}: {@code ForeignMemory.map} of one frame (mmap, IOCTL_PRIVCMD_MMAPBATCH_V2,
 *       one mmu_update), a 4 KiB read, munmap: what one {@code MappedPhysicalMemory.read} of a page costs;
 *       compare with {@code xc_map_foreign_range} + memcpy + munmap in C;</li>
 *   <li>{@link #readMapped}: the 4 KiB copy from a mapping held open (jffi MemoryIO).</li>
 * </ul>
 * Not a test: nothing here runs under {@code mvn test}. Results go to docs/PERFORMANCE.md once measured.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
public class ForeignMapBenchmark {
    /** A running guest of the rig (the tiny guest): not 0, which Xen will not map. */
    @Param("1")
    public int domid;
    /** A frame of its RAM, decimal or 0x hex. */
    @Param("0x100")
    public String gfn;

    private Privcmd privcmd;
    private ForeignMemory memory;
    private ForeignMapping held;
    private long frame;
    private final byte[] page = new byte[Linux.PAGE_SIZE];

    @Setup
    public void setUp() throws NativeException {
        frame = Long.decode(gfn);
        privcmd = Privcmd.open(LinuxSeam.get());
        memory = new ForeignMemory(privcmd);
        held = memory.map(domid, Linux.PROT_READ, frame);
        if (held.frameError(0) != 0) {
            throw new IllegalStateException("gfn " + gfn + " of domain " + domid + ": "
                    + ForeignMapping.describeFrameError(held.frameError(0)));
        }
    }

    @TearDown
    public void tearDown() {
        held.close();
        privcmd.close();
    }

    @Benchmark
    public byte[] mapReadUnmap() throws NativeException {
        try (ForeignMapping m = memory.map(domid, Linux.PROT_READ, frame)) {
            m.read(0, page, 0, page.length);
        }
        return page;
    }

    @Benchmark
    public byte[] readMapped() {
        held.read(0, page, 0, page.length);
        return page;
    }
}
