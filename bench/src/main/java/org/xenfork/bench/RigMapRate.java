package org.xenfork.bench;

import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.vmi.GuestMemoryException;
import org.xenfork.vmi.MappedPhysicalMemory;

/**
 * Mapping and reading one guest page on a real Xen, for comparison with the rig's C program
 * ({@code xcbench map DOMID GFN N}: libxenctrl's {@code xc_map_foreign_range}, libxenforeignmemory and
 * the bare syscalls) in the same boot: same domain, same frame, same N, every step timed alone with
 * {@code System.nanoTime}. Prints lines in xcbench's format ({@code BENCH name=… n=… median_us=…}).
 *
 * <pre>
 *   java -cp bench/target/benchmarks.jar org.xenfork.bench.RigMapRate DOMID GFN N [WARMUP]
 * </pre>
 *
 * <ul>
 *   <li>map.java.map / .read / .unmap / .total: {@link ForeignMemory#map} of one frame, read-only (mmap of
 *       the privcmd fd + IOCTL_PRIVCMD_MMAPBATCH_V2 + its err[]), a 4 KiB {@link ForeignMapping#read},
 *       {@link ForeignMapping#close} (munmap): the steps of xcbench's map.fm; map.java.whole: the same three
 *       timed as one (xcbench's map.fm.whole);</li>
 *   <li>mmap.java.mmap / .munmap: the privcmd mmap and munmap alone, no ioctl between, so that map.java.map
 *       splits into the mmap and the ioctl as xcbench's map.raw.mmap and map.raw.ioctl do;</li>
 *   <li>map.vmi.total: one {@link MappedPhysicalMemory#read} of the page, what {@code xenfork mem read} does
 *       per call (the same three steps plus its checks);</li>
 *   <li>read.held.java: the 4 KiB read from one mapping held open (xcbench's read.held);
 *       read.held.after.java: the same read right after another mapping of the frame was made and closed
 *       (xcbench's read.held.after), to tell the copy's own cost from what a fresh map and unmap leave behind.</li>
 * </ul>
 * WARMUP (default 20000) untimed rounds of each come first: a tool that reads guest memory in a loop has a
 * warm JIT (with 5000, Java's map took 1.4 times as long in the rig, most likely the JIT unfinished). Not a test; a loop rather than JMH because a JVM start costs seconds under the rig's emulation and
 * these lines interleave with xcbench's in one dom0 command. Needs root in a Xen dom0 and a domain whose
 * frame GFN is RAM.
 */
public final class RigMapRate {
    private static final int PAGE = Linux.PAGE_SIZE;

    private RigMapRate() {
    }

    public static void main(String[] args) throws NativeException, GuestMemoryException {
        if (args.length < 3 || args.length > 4) {
            System.err.println("usage: RigMapRate DOMID GFN N [WARMUP]   (GFN decimal or 0x hex)");
            System.exit(2);
        }
        int domid = Integer.parseInt(args[0]);
        long gfn = Long.decode(args[1]);
        int n = Integer.parseInt(args[2]);
        int warmup = args.length > 3 ? Integer.parseInt(args[3]) : 20000;
        if (n < 1 || warmup < 0) {
            System.err.println("RigMapRate: N must be at least 1 and WARMUP at least 0");
            System.exit(2);
        }
        byte[] page = new byte[PAGE];
        long sink = 0;
        try (Privcmd privcmd = Privcmd.open(LinuxSeam.get())) {
            ForeignMemory memory = new ForeignMemory(privcmd);
            long[] map = new long[n];
            long[] read = new long[n];
            long[] unmap = new long[n];
            long[] total = new long[n];
            for (int k = -warmup; k < n; k++) {
                long t0 = System.nanoTime();
                ForeignMapping m = memory.map(domid, Linux.PROT_READ, gfn);
                long t1 = System.nanoTime();
                if (m.frameError(0) != 0) {
                    m.close();
                    throw new IllegalStateException("gfn 0x" + Long.toHexString(gfn) + " of domain " + domid + ": "
                            + ForeignMapping.describeFrameError(m.frameError(0)));
                }
                m.read(0, page, 0, PAGE);
                long t2 = System.nanoTime();
                m.close();
                long t3 = System.nanoTime();
                sink += page[k & (PAGE - 1)];
                if (k >= 0) {
                    map[k] = t1 - t0;
                    read[k] = t2 - t1;
                    unmap[k] = t3 - t2;
                    total[k] = t3 - t0;
                }
            }
            BenchLines.reportFine("map.java.map", map);
            BenchLines.reportFine("map.java.read", read);
            BenchLines.reportFine("map.java.unmap", unmap);
            BenchLines.reportFine("map.java.total", total);
            for (int k = -warmup; k < n; k++) {
                long t0 = System.nanoTime();
                try (ForeignMapping m = memory.map(domid, Linux.PROT_READ, gfn)) {
                    m.read(0, page, 0, PAGE);
                }
                long t1 = System.nanoTime();
                sink += page[k & (PAGE - 1)];
                if (k >= 0) {
                    total[k] = t1 - t0;
                }
            }
            BenchLines.reportFine("map.java.whole", total);

            // A second fd on the device, as Privcmd keeps its own to itself; the mmap is the one ForeignMemory makes.
            NativeSeam seam = privcmd.seam();
            int fd = seam.open(Linux.PRIVCMD_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
            try {
                for (int k = -warmup; k < n; k++) {
                    long t0 = System.nanoTime();
                    long address = seam.mmap(PAGE, Linux.PROT_READ, Linux.MAP_SHARED, fd, 0);
                    long t1 = System.nanoTime();
                    seam.munmap(address, PAGE);
                    long t2 = System.nanoTime();
                    if (k >= 0) {
                        map[k] = t1 - t0;
                        unmap[k] = t2 - t1;
                    }
                }
            } finally {
                seam.close(fd);
            }
            BenchLines.reportFine("mmap.java.mmap", map);
            BenchLines.reportFine("mmap.java.munmap", unmap);

            MappedPhysicalMemory guest = new MappedPhysicalMemory(memory, domid);
            for (int k = -warmup; k < n; k++) {
                long t0 = System.nanoTime();
                guest.read(gfn * PAGE, page, 0, PAGE);
                long t1 = System.nanoTime();
                sink += page[k & (PAGE - 1)];
                if (k >= 0) {
                    total[k] = t1 - t0;
                }
            }
            BenchLines.reportFine("map.vmi.total", total);

            try (ForeignMapping held = memory.map(domid, Linux.PROT_READ, gfn)) {
                for (int k = -warmup; k < n; k++) {
                    long t0 = System.nanoTime();
                    held.read(0, page, 0, PAGE);
                    long t1 = System.nanoTime();
                    sink += page[k & (PAGE - 1)];
                    if (k >= 0) {
                        read[k] = t1 - t0;
                    }
                }
                BenchLines.reportFine("read.held.java", read);
                for (int k = -warmup; k < n; k++) {
                    memory.map(domid, Linux.PROT_READ, gfn).close();
                    long t0 = System.nanoTime();
                    held.read(0, page, 0, PAGE);
                    long t1 = System.nanoTime();
                    sink += page[k & (PAGE - 1)];
                    if (k >= 0) {
                        read[k] = t1 - t0;
                    }
                }
                BenchLines.reportFine("read.held.after.java", read);
            }
        }
        System.out.println("BENCHINFO domid=" + domid + " gfn=0x" + Long.toHexString(gfn) + " pages=1 prot=PROT_READ"
                + " warmup=" + warmup + " sink=" + sink);
    }
}
