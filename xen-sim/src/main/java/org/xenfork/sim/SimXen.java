package org.xenfork.sim;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.IntConsumer;
import java.util.function.IntSupplier;
import java.util.function.Predicate;

import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;

/**
 * A simulated Xen hypervisor of one supported release (4.14 on) on x86-64: its
 * domains, and the hypercalls the fork workflow makes, answered with that
 * release's semantics and errnos (each class cites the Xen source file and
 * function it models). It reads and writes hypercall arguments as bytes
 * through the release's abi layouts, so it is reached through a
 * {@link SimulatedSeam}, below privcmd's ioctl.
 *
 * <pre>{@code
 * SimXen xen = SimXen.builder(XenRelease.parse("4.17")).build();   // Intel, HAP, CONFIG_MEM_SHARING
 * SimDomain parent = xen.addGuest(GuestSpec.hvm("debian", 2, 1 << 20));
 * NativeSeam seam = new SimulatedSeam(xen);                         // give this to privcmd
 * ... privcmd creates a domain and forks parent through the seam ...
 * xen.calls().forEach(System.out::println);                         // domctl XEN_DOMCTL_createdomain dom=0 -> 0 …
 * xen.injectFault(SimCall.named("XENMEM_sharing_op_fork"), Errno.ENOMEM);
 * }</pre>
 *
 * <p>A fresh SimXen has Domain-0: id 0, PV, running, with the toolstack in it
 * (every hypercall comes from dom0, which is privileged). Hypercalls other
 * than xen_version, memory_op, multicall, sysctl and domctl return ENOSYS.
 *
 * <p>Thread safety: hypercalls and the methods here are serialised on this
 * object, as Xen serialises domctls on {@code domctl_lock}.
 */
public final class SimXen {

    /** The host CPU: forks need Intel VMX; on AMD, mem_sharing_control answers EOPNOTSUPP. */
    public enum CpuVendor { INTEL, AMD }

    /** Options of the simulated machine and Xen build. */
    public static final class Builder {
        private final XenRelease release;
        private boolean memSharing = true;
        private CpuVendor vendor = CpuVendor.INTEL;
        private boolean hap = true;
        private boolean iommu;
        private int hostCpus = 8;
        private long hostMemoryKb = 16L << 20;
        private int dom0Vcpus = 2;
        private long dom0MemoryKb = 2L << 20;
        private String extraVersion = ".0";
        private boolean dom0FifoEvents = true;

        private Builder(XenRelease release) {
            Abi.forRelease(release); // refuses an unsupported release now rather than at build()
            this.release = release;
        }

        /**
         * Whether Xen was built with {@code CONFIG_MEM_SHARING}. Default
         * {@code true}: the simulator stands for the hypervisor xenfork needs
         * (stock builds default to n: MEM_SHARING in xen/arch/x86/Kconfig); without it every
         * XENMEM_sharing_op is ENOSYS.
         */
        public Builder memSharing(boolean builtIn) {
            this.memSharing = builtIn;
            return this;
        }

        /** Default {@link CpuVendor#INTEL}. */
        public Builder cpuVendor(CpuVendor cpuVendor) {
            this.vendor = cpuVendor;
            return this;
        }

        /** Hardware-assisted paging (EPT/NPT) available; default {@code true}. */
        public Builder hap(boolean available) {
            this.hap = available;
            return this;
        }

        /** An IOMMU enabled (needed to create domains with CDF_iommu); default {@code false}. */
        public Builder iommu(boolean enabled) {
            this.iommu = enabled;
            return this;
        }

        /** Host CPUs and memory; defaults 8 CPUs and 16 GiB. */
        public Builder host(int cpus, long memoryKb) {
            if (cpus < 1 || memoryKb < 4) {
                throw new IllegalArgumentException("a host needs a CPU and memory");
            }
            this.hostCpus = cpus;
            this.hostMemoryKb = memoryKb;
            return this;
        }

        /** Domain-0's vCPUs and memory; defaults 2 vCPUs and 2 GiB. */
        public Builder dom0(int vcpus, long memoryKb) {
            if (vcpus < 1 || memoryKb < 4) {
                throw new IllegalArgumentException("dom0 needs a vCPU and memory");
            }
            this.dom0Vcpus = vcpus;
            this.dom0MemoryKb = memoryKb;
            return this;
        }

        /** What {@code XENVER_extraversion} reports, e.g. {@code .7}; default {@code .0}. */
        public Builder extraVersion(String extra) {
            this.extraVersion = extra;
            return this;
        }

        /**
         * Whether dom0's Linux uses the FIFO event channel ABI: its default, where Xen offers it;
         * {@code xen.fifo_events=0} on its command line keeps the 2-level ABI. dom0 then has 2^17
         * event channel ports, else 4096. Default {@code true}.
         */
        public Builder dom0FifoEvents(boolean fifo) {
            this.dom0FifoEvents = fifo;
            return this;
        }

        public SimXen build() {
            boolean intel = vendor == CpuVendor.INTEL;
            // CPUID.1:EAX and the first capability words of a Skylake-SP (Intel) or a
            // Zen 2 EPYC (AMD: the hw_caps xl info showed for the rig's emulated CPU).
            Host host = new Host(vendor, hap, iommu, memSharing, hostCpus, hostMemoryKb,
                    intel ? 2_095_078 : 2_596_131, intel ? 0x0005_0654 : 0x0080_0f12,
                    intel ? List.of(0xbfebfbff, 0x7ffefbff, 0x2c100800, 0x00000121, 0x0000000f, 0xd19ffffb,
                            0x00000000, 0x00000000)
                            : List.of(0x178bf3fd, 0xf6d83203, 0x2c500800, 0x00000077, 0x00000005, 0x00880129,
                            0x00000000, 0x00000000),
                    extraVersion, "console=com1 com1=115200,8n1 dom0_mem=" + (dom0MemoryKb >> 10) + "M,max:"
                    + (dom0MemoryKb >> 10) + "M dom0_max_vcpus=" + dom0Vcpus + " loglvl=all");
            return new SimXen(release, host, dom0Vcpus, dom0MemoryKb, dom0FifoEvents);
        }
    }

    /** Simulated time each hypercall takes, charged to every running vCPU as cpu_time. */
    private static final long TICK_NS = 100_000;

    private final XenRelease release;
    private final Abi abi;
    private final Host host;
    private final DomainTable table;
    private final DomainLifecycle lifecycle;
    private final HvmSaveRestore hvm;
    private final MemSharing memSharing;
    private final EventChannels eventChannels;
    private final XenVersionHypercall xenVersion;
    private final DomctlHypercall domctl;
    private final SysctlHypercall sysctl;
    private final MemoryOpHypercall memoryOp;
    private final MulticallHypercall multicall;
    private final MmuUpdate mmuUpdate;
    private final VmEventMonitor monitor;
    private final HvmOpHypercall hvmOp;
    private final DmOpHypercall dmOp;
    private final long hcHvmOp;
    private final long hcDmOp;
    private final ConstantNames hvmopNames;
    private final ConstantNames dmopNames;
    private final long hcMmuUpdate;
    private final long hcMemoryOp;
    private final long hcMulticall;
    private final long hcXenVersion;
    private final long hcSysctl;
    private final long hcDomctl;
    private final long xenmemSharingOp;
    private final ConstantNames hypercallNames;
    private final ConstantNames xenverNames;
    private final ConstantNames domctlNames;
    private final ConstantNames sysctlNames;
    private final ConstantNames memoryOpNames;
    private final ConstantNames sharingOpNames;
    private final Faults faults = new Faults();
    private final List<Map.Entry<Predicate<SimCall>, Consumer<LoggedCall>>> afterCalls = new ArrayList<>();
    private final List<LoggedCall> log = new ArrayList<>();
    /** Domain handles are random but reproducible run to run. */
    private final Random handles = new Random(0x5eed_f0e4L);
    private int depth;

    private SimXen(XenRelease release, Host host, int dom0Vcpus, long dom0MemoryKb, boolean dom0FifoEvents) {
        this.release = release;
        this.abi = Abi.forRelease(release);
        this.host = host;
        this.table = new DomainTable(abi);
        this.hvm = new HvmSaveRestore(abi);
        this.eventChannels = new EventChannels(abi, table, dom0FifoEvents);
        this.lifecycle = new DomainLifecycle(this, abi, table, hvm, host, eventChannels);
        GetDomainInfoReply info = new GetDomainInfoReply(abi, host);
        this.memSharing = new MemSharing(abi, table, lifecycle, hvm, host);
        this.xenVersion = new XenVersionHypercall(abi, host, table);
        this.monitor = new VmEventMonitor(abi, table, lifecycle, memSharing, hvm, host, eventChannels);
        this.domctl = new DomctlHypercall(abi, table, lifecycle, info, hvm, host, monitor);
        this.sysctl = new SysctlHypercall(abi, table, info, host);
        this.memoryOp = new MemoryOpHypercall(abi, host, memSharing, table);
        this.hvmOp = new HvmOpHypercall(abi, table);
        this.dmOp = new DmOpHypercall(abi, table);
        this.hcHvmOp = abi.constant("__HYPERVISOR_hvm_op");
        this.hcDmOp = abi.constant("__HYPERVISOR_dm_op");
        this.hvmopNames = new ConstantNames(abi, "HVMOP_", null);
        this.dmopNames = new ConstantNames(abi, "XEN_DMOP_", "XEN_DMOP_EVENT_");
        this.multicall = new MulticallHypercall(abi);
        this.mmuUpdate = new MmuUpdate(table, memSharing);
        this.hcMmuUpdate = abi.constant("__HYPERVISOR_mmu_update");
        this.hcMemoryOp = abi.constant("__HYPERVISOR_memory_op");
        this.hcMulticall = abi.constant("__HYPERVISOR_multicall");
        this.hcXenVersion = abi.constant("__HYPERVISOR_xen_version");
        this.hcSysctl = abi.constant("__HYPERVISOR_sysctl");
        this.hcDomctl = abi.constant("__HYPERVISOR_domctl");
        this.xenmemSharingOp = abi.constant("XENMEM_sharing_op");
        this.hypercallNames = new ConstantNames(abi, "__HYPERVISOR_", null);
        this.xenverNames = new ConstantNames(abi, "XENVER_", null);
        this.domctlNames = new ConstantNames(abi, "XEN_DOMCTL_", null);
        this.sysctlNames = new ConstantNames(abi, "XEN_SYSCTL_", null);
        this.memoryOpNames = new ConstantNames(abi, "XENMEM_", "XENMEM_sharing_op_");
        this.sharingOpNames = new ConstantNames(abi, "XENMEM_sharing_op_", null);
        bootDom0(dom0Vcpus, dom0MemoryKb);
    }

    public static Builder builder(XenRelease release) {
        return new Builder(release);
    }

    /** A simulated Xen with the default options (see {@link Builder}). */
    public static SimXen create(XenRelease release) {
        return builder(release).build();
    }

    public XenRelease release() {
        return release;
    }

    /**
     * Adds a booted guest, as if a toolstack had created, built and unpaused
     * it: id from the same allocator createdomain uses, vCPUs online with a
     * running kernel's registers, memory populated, a random handle.
     *
     * @throws IllegalArgumentException if the host lacks HAP or an IOMMU the spec asks for
     */
    public synchronized SimDomain addGuest(GuestSpec spec) {
        if (spec.hap() && !host.hap()) {
            throw new IllegalArgumentException("the simulated host has no HAP; use GuestSpec.withHap(false)");
        }
        if (spec.iommu() && !host.iommu()) {
            throw new IllegalArgumentException("the simulated host has no IOMMU; build it with iommu(true)");
        }
        long cdf = 0;
        long emulation = 0;
        switch (spec.type()) {
            case HVM -> emulation = abi.constant("XEN_X86_EMU_ALL") & ~abi.constant("XEN_X86_EMU_VPCI");
            case PVH -> emulation = abi.constant("XEN_X86_EMU_LAPIC");
            case PV -> cdf |= abi.constant("XEN_DOMCTL_CDF_oos_off");
        }
        if (spec.isHvmContainer()) {
            cdf |= abi.constant("XEN_DOMCTL_CDF_hvm") | (spec.hap() ? abi.constant("XEN_DOMCTL_CDF_hap") : 0);
        }
        cdf |= spec.iommu() ? abi.constant("XEN_DOMCTL_CDF_iommu") : 0;
        SimDomain d = lifecycle.create(table.allocate(0),
                new DomainParams(newHandle(), 0, (int) cdf, spec.vcpus(), (int) emulation));
        d.name = spec.name();
        lifecycle.createVcpus(d, spec.vcpus());
        for (int v = 0; v < spec.vcpus(); v++) {
            if (d.hvm) {
                hvm.bootVcpu(d, v);
            } else {
                d.onlineVcpus.set(v);
            }
        }
        long pages = spec.memoryKb() / 4;
        d.maxPages = pages;
        d.p2m.populate(pages);
        if (d.hvm) {
            d.monitorRingGfn = VmEventMonitor.HVM_MONITOR_RING_GFN;
        }
        if (!spec.startPaused()) {
            lifecycle.unpauseByController(d);
        }
        return d;
    }

    /** The listed domain with this id (dying ones included until freed). */
    public synchronized Optional<SimDomain> domain(int domid) {
        return Optional.ofNullable(table.byId(domid));
    }

    /** Every listed domain, in id order. */
    public synchronized List<SimDomain> domains() {
        return table.all();
    }

    /** The name a domain was given ("Domain-0" for dom0); the simulator's stand-in for xenstore's /local/domain/N/name. */
    public synchronized Optional<String> name(int domid) {
        return domain(domid).flatMap(SimDomain::name);
    }

    /** Names a domain, as a toolstack writes its name into xenstore. */
    public synchronized void rename(int domid, String newName) {
        require(domid).name = newName;
    }

    /**
     * The guest {@code domid} touches page {@code gfn}: what an EPT fault of a
     * running guest makes Xen do (see {@code mem_sharing_fork_page}). This is
     * how a test makes a fork use memory.
     *
     * @throws IllegalStateException if the domain is paused or dying, or the page is paged out
     * @throws IllegalArgumentException if no page backs {@code gfn}
     */
    public synchronized void guestAccess(int domid, long gfn, boolean write) {
        memSharing.guestAccess(require(domid), gfn, write);
    }

    /**
     * Puts {@code bytes} into the memory of guest {@code domid} at guest-physical {@code address}, as
     * the guest itself would have written them, whether it runs or not: each page is a write access
     * (see {@link #guestAccess}), so a shared page is unshared first and a fork gets its own copy of
     * its parent's page. For tests that need known bytes in a guest.
     *
     * @throws IllegalArgumentException if no page backs part of the range (nothing is written then)
     * @throws IllegalStateException if part of the range is paged out (nothing is written then)
     */
    public synchronized void writeGuestMemory(int domid, long address, byte[] bytes) {
        SimDomain d = require(domid);
        forEachPage(address, bytes.length, (gfn, offset, at, n) -> memSharing.requireBacked(d, gfn));
        forEachPage(address, bytes.length, (gfn, offset, at, n) -> {
            memSharing.resolve(d, gfn, true);
            d.p2m.frame(gfn).write(offset, bytes, at, n);
        });
    }

    /**
     * The {@code length} bytes guest {@code domid} would read at guest-physical {@code address} now,
     * changing nothing: no page is shared or copied by looking (a fork's missing page shows what a read
     * fault would bring, its parent's). For tests that check what reached a guest.
     *
     * @throws IllegalArgumentException if no page backs part of the range
     * @throws IllegalStateException if part of it is paged out
     */
    public synchronized byte[] readGuestMemory(int domid, long address, int length) {
        SimDomain d = require(domid);
        byte[] out = new byte[length];
        forEachPage(address, length, (gfn, offset, at, n) -> {
            Frame f = memSharing.peek(d, gfn);
            if (f != null) {
                f.read(offset, out, at, n);
            }
        });
        return out;
    }

    /**
     * Xen's pager takes page {@code gfn} of guest {@code domid} out of memory
     * ({@code p2m_mem_paging_nominate} and {@code _evict}: it leaves tot_pages and joins paged_pages)
     * and brings it back after {@code requestsUntilBack} populate requests: the foreign mapping
     * attempts that hit it fail with ENOENT, the one after the last succeeds. A stand-in for a paging
     * daemon (xenpaging) and its ring, which are not modelled.
     *
     * @throws IllegalArgumentException unless the page is private to the domain and not mapped by dom0
     */
    public synchronized void pageOut(int domid, long gfn, int requestsUntilBack) {
        SimDomain d = require(domid);
        if (!P2m.inRange(gfn)) {
            throw new IllegalArgumentException("d" + domid + " has no page at gfn 0x" + Long.toHexString(gfn));
        }
        d.p2m.pageOut(gfn, requestsUntilBack);
    }

    /**
     * One {@code mmu_update} hypercall by dom0's kernel mapping frames of {@code foreigndom} (see
     * {@link MmuUpdate}): logged, subject to planned faults (an injected errno fails the first request,
     * with none done), answered. Not an {@link #afterCall} point: it comes from inside an ioctl.
     */
    synchronized MmuUpdate.Result mmuUpdate(int foreigndom, List<MmuUpdate.Request> requests) {
        SimCall call = new SimCall((int) hcMmuUpdate, hypercallNames.name(hcMmuUpdate).replaceFirst("^__HYPERVISOR_", ""),
                -1, "", -1, "", foreigndom);
        int slot = log.size();
        log.add(null);
        int injected = faults.take(call);
        MmuUpdate.Result r;
        if (injected != 0) {
            r = new MmuUpdate.Result(-injected, 0, List.of());
        } else {
            tick();
            r = mmuUpdate.call(foreigndom, requests);
        }
        log.set(slot, new LoggedCall(call, r.rc(), injected != 0));
        return r;
    }

    /** One page's part of a byte range: its gfn, the offset in the page, the offset in the range, the length. */
    private interface PagePart {
        void accept(long gfn, int offset, int at, int length);
    }

    private static void forEachPage(long address, int length, PagePart part) {
        if (address < 0 || length < 0 || address + length < address) {
            throw new IllegalArgumentException("guest-physical range 0x" + Long.toHexString(address) + " + "
                    + length + " bytes");
        }
        for (int at = 0; at < length; ) {
            long a = address + at;
            int offset = (int) (a % Frame.SIZE);
            int n = Math.min(length - at, Frame.SIZE - offset);
            part.accept(a / Frame.SIZE, offset, at, n);
            at += n;
        }
    }

    // ---- the monitor ring (see VmEventMonitor) ----

    /**
     * vCPU {@code vcpu} of guest {@code domid} executes the byte at {@code rip}, which must be an int3
     * (0xCC): what Xen does then ({@code hvm_monitor_debug}). With SOFTWARE_BREAKPOINT monitored and a
     * ring enabled, a request goes on the ring ({@code u.software_breakpoint.gfn} of {@code rip}), the
     * vCPU is paused until a response and Xen's port is notified: {@code true}. Otherwise the guest
     * takes its own #BP: {@code false}. The guest runs with paging off here ({@code rip} is
     * guest-physical); {@link #executeBreakpoint(int, int, long, long)} names the physical address.
     *
     * @throws IllegalStateException if the domain or the vCPU is paused, or the ring is full
     * @throws IllegalArgumentException if the byte there is not 0xCC, or no page backs it
     */
    public synchronized boolean executeBreakpoint(int domid, int vcpu, long rip) {
        return executeBreakpoint(domid, vcpu, rip, rip);
    }

    /** {@link #executeBreakpoint(int, int, long)} at virtual {@code rip}, which the guest's page tables map to {@code gpa}. */
    public synchronized boolean executeBreakpoint(int domid, int vcpu, long rip, long gpa) {
        SimDomain d = runningVcpu(domid, vcpu);
        requireInstruction(domid, gpa, 0xcc, "an int3");
        return monitor.breakpoint(d, vcpu, rip, gpa) == VmEventMonitor.Outcome.SENT;
    }

    /**
     * vCPU {@code vcpu} of guest {@code domid} executes the byte at {@code rip}, which must be an
     * ICEBP (0xF1), with paging off: what Xen does on the ICEBP intercept ({@code hvm_monitor_debug},
     * HVM_MONITOR_DEBUG_EXCEPTION, {@code X86_EVENTTYPE_PRI_SW_EXCEPTION}, length 1). True if the
     * vCPU waits for an answer (DEBUG_EXCEPTION monitored synchronously, a ring enabled); false if
     * the guest takes its #DB (an asynchronous request may still be on the ring).
     *
     * @throws IllegalStateException if the domain or the vCPU is paused, or the ring is full
     * @throws IllegalArgumentException if the byte there is not 0xF1, or no page backs it
     */
    public synchronized boolean executeIcebp(int domid, int vcpu, long rip) {
        return executeIcebp(domid, vcpu, rip, rip);
    }

    /** {@link #executeIcebp(int, int, long)} at virtual {@code rip}, which the guest's page tables map to {@code gpa}. */
    public synchronized boolean executeIcebp(int domid, int vcpu, long rip, long gpa) {
        SimDomain d = runningVcpu(domid, vcpu);
        requireInstruction(domid, gpa, 0xf1, "an icebp");
        return monitor.debugException(d, vcpu, rip, gpa, VmEventMonitor.PRI_SW_EXCEPTION, 1, 0)
                == VmEventMonitor.Outcome.SENT;
    }

    /** The one-byte instruction a test says the vCPU executes must be there. */
    private void requireInstruction(int domid, long gpa, int opcode, String name) {
        byte[] b = readGuestMemory(domid, gpa, 1);
        if ((b[0] & 0xff) != opcode) {
            throw new IllegalArgumentException("d" + domid + " has 0x" + Integer.toHexString(b[0] & 0xff) + ", not "
                    + name + ", at 0x" + Long.toHexString(gpa));
        }
    }

    /**
     * vCPU {@code vcpu} takes a #DB of the CPU's own at {@code rip} (a debug register or single-step
     * trap; {@code pendingDbg} its DR6 bits), paging off: as {@link #executeIcebp}, with
     * {@code X86_EVENTTYPE_HW_EXCEPTION} and length 0.
     */
    public synchronized boolean executeDebugTrap(int domid, int vcpu, long rip, long pendingDbg) {
        return monitor.debugException(runningVcpu(domid, vcpu), vcpu, rip, rip, VmEventMonitor.HW_EXCEPTION, 0,
                pendingDbg) == VmEventMonitor.Outcome.SENT;
    }

    /** vCPU {@code vcpu} executes CPUID at {@code rip}: a request if CPUID is monitored ({@code hvm_monitor_cpuid}). */
    public synchronized boolean executeCpuid(int domid, int vcpu, long rip, int leaf, int subleaf) {
        return monitor.cpuid(runningVcpu(domid, vcpu), vcpu, rip, leaf, subleaf) == VmEventMonitor.Outcome.SENT;
    }

    /** vCPU {@code vcpu}, single-stepping, completes the instruction before {@code rip}: a SINGLESTEP request if monitored. */
    public synchronized boolean executeSinglestep(int domid, int vcpu, long rip) {
        return monitor.singlestep(runningVcpu(domid, vcpu), vcpu, rip, rip) == VmEventMonitor.Outcome.SENT;
    }

    private SimDomain runningVcpu(int domid, int vcpu) {
        SimDomain d = require(domid);
        if (vcpu < 0 || vcpu >= d.allocatedVcpus) {
            throw new IllegalArgumentException("d" + domid + " has no vCPU " + vcpu);
        }
        if (!d.isRunnable() || d.vmEventPaused.get(vcpu)) {
            throw new IllegalStateException("d" + domid + " vCPU " + vcpu + " is paused: it executes nothing");
        }
        return d;
    }

    /** A notification of Xen's monitor port by the monitor ({@code monitor_notification}): Xen takes the responses. */
    public synchronized void notifyMonitor(int domid) {
        SimDomain d = require(domid);
        if (d.monitorRing != null) {
            monitor.resume(d);
        }
    }

    /**
     * Once, right after Xen next takes the monitor responses of {@code domid} ({@code vm_event_resume},
     * on a notification of its port or on {@code XEN_VM_EVENT_RESUME}), {@code action} runs on the
     * thread that made it take them, under this simulator's lock: it may be a vCPU meeting its next
     * event ({@link #executeSinglestep}, ...), but must not block. For a test acting between a
     * monitor's answer and its next wait, where no hypercall is issued that {@link #afterCall} could
     * match.
     */
    public synchronized void afterMonitorResume(int domid, Runnable action) {
        monitor.afterResume(require(domid), action);
    }

    /** Whether {@code domid} has a monitor ring enabled. */
    public synchronized boolean monitorRingEnabled(int domid) {
        return require(domid).monitorRing != null;
    }

    /** Xen's port of the enabled monitor ring's event channel, or -1. */
    public synchronized int monitorPort(int domid) {
        SimDomain d = require(domid);
        return d.monitorRing == null ? -1 : d.monitorRing.xenPort;
    }

    /** How often Xen has notified the monitor of {@code domid}'s ring (0 without a ring). */
    public synchronized long monitorNotifications(int domid) {
        SimDomain d = require(domid);
        return d.monitorRing == null ? 0 : d.monitorRing.notifications();
    }

    /** {@code HVM_PARAM_MONITOR_RING_PFN} of the domain (0: none). */
    public synchronized long monitorRingGfn(int domid) {
        return require(domid).monitorRingGfn;
    }

    /** Sets {@code HVM_PARAM_MONITOR_RING_PFN}, as a toolstack's HVMOP_set_param would. */
    public synchronized void setMonitorRingGfn(int domid, long gfn) {
        require(domid).monitorRingGfn = gfn;
    }

    /** Whether vCPU {@code vcpu} waits for the answer to a vm_event request. */
    public synchronized boolean vcpuPausedByVmEvent(int domid, int vcpu) {
        return require(domid).vmEventPaused.get(vcpu);
    }

    /** Whether vCPU {@code vcpu} single-steps ({@code VM_EVENT_FLAG_TOGGLE_SINGLESTEP}). */
    public synchronized boolean singlestepping(int domid, int vcpu) {
        return require(domid).singlestep.get(vcpu);
    }

    /** The monitor events switched on, as {@code 1 << XEN_DOMCTL_MONITOR_EVENT_*} bits. */
    public synchronized int monitorEvents(int domid) {
        return require(domid).monitorEvents & 0x00ff_ffff;
    }

    /** The event {@code XEN_DMOP_inject_event} queued on vCPU {@code vcpu}: {vector, type, insn_len, cr2}, or empty. */
    public synchronized Optional<long[]> pendingInjection(int domid, int vcpu) {
        return Optional.ofNullable(require(domid).pendingInjection.get(vcpu)).map(long[]::clone);
    }

    /** Whether gfn {@code gfn} of {@code domid} is in its physmap (a private or shared entry). */
    public synchronized boolean inPhysmap(int domid, long gfn) {
        return require(domid).p2m.has(gfn);
    }

    /** Makes every vCPU of the guest block (idle) or wake: XEN_DOMINF_blocked vs running. */
    public synchronized void setIdle(int domid, boolean idle) {
        require(domid).idle = idle;
    }

    /**
     * Xen allocates an event channel port of its own in domain {@code domid} for dom0 to bind
     * ({@code alloc_unbound_xen_event_channel(d, 0, 0, fn)}), as {@code vm_event_enable} does for a
     * ring: unbound, allocated for dom0. {@code onNotify} runs with the port,
     * under this simulator's lock and on dom0's thread, each time dom0 notifies its end
     * ({@code IOCTL_EVTCHN_NOTIFY}); it must not block. This is how a test, and the simulator's own
     * rings, get a port for {@code /dev/xen/evtchn} to bind.
     *
     * @throws IllegalArgumentException if there is no such domain
     * @throws IllegalStateException if Xen refuses (EINVAL: the domain is dying; ENOSPC: no free port)
     */
    public synchronized int allocUnboundXenEventChannel(int domid, IntConsumer onNotify) {
        SimDomain d = require(domid);
        return refusedAsState("alloc_unbound_xen_event_channel(d" + domid + ")",
                () -> eventChannels.allocUnboundXen(d, table.caller().domid, onNotify));
    }

    /**
     * Xen notifies dom0 on its own port {@code port} of {@code domid}
     * ({@code notify_via_xen_event_channel}), as {@code vm_event_put_request} does after queuing a
     * request: dom0's end becomes pending and, if it is bound through {@code /dev/xen/evtchn} and
     * unmasked, shows up in the reader's ring. Nothing happens while nobody has bound the port.
     *
     * @throws IllegalArgumentException if there is no such domain
     * @throws IllegalStateException if the port is not one {@link #allocUnboundXenEventChannel} made
     */
    public synchronized void notifyViaXenEventChannel(int domid, int port) {
        eventChannels.notifyViaXen(require(domid), port);
    }

    /**
     * Xen closes its own port ({@code free_xen_event_channel}), as {@code vm_event_disable} does: dom0's
     * end, if bound, is left unbound, so notifying it does nothing.
     */
    public synchronized void freeXenEventChannel(int domid, int port) {
        SimDomain d = require(domid);
        refusedAsState("free_xen_event_channel(d" + domid + ", " + port + ")", () -> {
            eventChannels.freeXen(d, port);
            return 0;
        });
    }

    /**
     * The guest {@code domid} allocates an unbound port for {@code remoteDomid} to bind
     * (EVTCHNOP_alloc_unbound with DOMID_SELF), as a frontend does for its backend. A test makes
     * with it a port dom0 may not bind (one meant for another domain), or one it may.
     *
     * @throws IllegalStateException if Xen refuses (EINVAL: the domain is dying; ENOSPC: no free port)
     */
    public synchronized int guestAllocUnbound(int domid, int remoteDomid) {
        SimDomain d = require(domid);
        return refusedAsState("EVTCHNOP_alloc_unbound(d" + domid + ")", () -> eventChannels.allocUnbound(d, remoteDomid));
    }

    /** Port {@code port} of domain {@code domid} as Xen sees it now; empty if the port is free. */
    public synchronized Optional<SimEventChannel> eventChannel(int domid, int port) {
        return Optional.ofNullable(eventChannels.view(require(domid), port));
    }

    /** The HVM context XEN_DOMCTL_gethvmcontext would return now. */
    public synchronized byte[] hvmContext(int domid) {
        SimDomain d = require(domid);
        if (!d.hvm) {
            throw new IllegalArgumentException("d" + domid + " is not an HVM domain");
        }
        return hvm.save(d, host);
    }

    /** Every hypercall so far, in order; a multicall's calls follow it. */
    public synchronized List<LoggedCall> calls() {
        return List.copyOf(log);
    }

    public synchronized void clearCalls() {
        log.clear();
    }

    /** The next hypercall matching {@code when} fails with {@code errno}, doing nothing. */
    public synchronized void injectFault(Predicate<SimCall> when, int errno) {
        injectFault(when, errno, 1);
    }

    /** The next {@code times} hypercalls matching {@code when} fail with {@code errno}, doing nothing. */
    public synchronized void injectFault(Predicate<SimCall> when, int errno, int times) {
        faults.add(when, errno, times);
    }

    /** Drops every planned fault not yet used. */
    public synchronized void clearFaults() {
        faults.clear();
    }

    /**
     * After the next top-level hypercall matching {@code when} has been answered, and before its
     * result reaches the caller, {@code action} runs on the caller's thread, once. It runs outside
     * this simulator's lock, so it may block (a test holds a workflow at a chosen step there, e.g.
     * right after a fork's createdomain, to deliver a stop exactly then) while other threads read
     * the simulator. Calls inside a multicall are not top-level: match the multicall.
     */
    public synchronized void afterCall(Predicate<SimCall> when, Consumer<LoggedCall> action) {
        afterCalls.add(Map.entry(when, action));
    }

    /**
     * One hypercall from dom0 with privcmd's arguments: logged, subject to
     * planned faults, answered with Xen's {@code long} result; then the
     * {@link #afterCall} action it matches, if any, outside the lock.
     */
    long hypercall(GuestMemory mem, long op, long[] args) {
        LoggedCall done;
        Consumer<LoggedCall> then = null;
        synchronized (this) {
            done = answer(mem, op, args);
            for (Iterator<Map.Entry<Predicate<SimCall>, Consumer<LoggedCall>>> it = afterCalls.iterator(); it.hasNext(); ) {
                Map.Entry<Predicate<SimCall>, Consumer<LoggedCall>> a = it.next();
                if (a.getKey().test(done.call())) {
                    it.remove();
                    then = a.getValue();
                    break;
                }
            }
        }
        if (then != null) {
            then.accept(done);
        }
        return done.result();
    }

    /** One hypercall, or one call of a multicall: logged, subject to planned faults, answered. */
    private synchronized LoggedCall answer(GuestMemory mem, long op, long[] args) {
        SimCall call = decode(mem, op, args);
        int slot = log.size();
        log.add(null);
        int injected = faults.take(call);
        long rc;
        if (injected != 0) {
            rc = -injected;
        } else {
            if (depth == 0) {
                tick();
            }
            depth++;
            try {
                rc = dispatch(mem, op, args);
            } catch (XenError e) {
                rc = -e.errno();
            } finally {
                depth--;
            }
        }
        LoggedCall done = new LoggedCall(call, rc, injected != 0);
        log.set(slot, done);
        return done;
    }

    private long dispatch(GuestMemory mem, long op, long[] args) {
        if (op == hcXenVersion) {
            return xenVersion.call(mem, args[0], args[1]);
        } else if (op == hcDomctl) {
            return domctl.call(mem, args[0]);
        } else if (op == hcSysctl) {
            return sysctl.call(mem, args[0]);
        } else if (op == hcMemoryOp) {
            return memoryOp.call(mem, args[0], args[1]);
        } else if (op == hcMulticall) {
            return multicall.call(mem, args[0], args[1], (m, o, a) -> answer(m, o, a).result());
        } else if (op == hcHvmOp) {
            return hvmOp.call(mem, args[0], args[1]);
        } else if (op == hcDmOp) {
            return dmOp.call(mem, args[0], args[1], args[2]);
        }
        return -Errno.ENOSYS;
    }

    /** Names the call for the log and for fault predicates, peeking at its argument struct. */
    private SimCall decode(GuestMemory mem, long op, long[] args) {
        String name = hypercallNames.name(op).replaceFirst("^__HYPERVISOR_", "");
        long cmd = -1;
        String cmdName = "";
        long subop = -1;
        String subopName = "";
        int domain = -1;
        try {
            if (op == hcXenVersion) {
                cmd = (int) args[0];
                cmdName = xenverNames.name(cmd);
            } else if (op == hcDomctl) {
                byte[] s = mem.copyFromGuest(args[0], domctl.size());
                cmd = domctl.cmdLeaf().read(s, 0);
                cmdName = domctlNames.name(cmd);
                domain = (int) domctl.domainLeaf().read(s, 0);
            } else if (op == hcHvmOp) {
                cmd = args[0];
                cmdName = hvmopNames.name(cmd);
                byte[] domid = mem.copyFromGuest(args[1], 2); // xen_hvm_param.domid
                domain = (domid[0] & 0xff) | (domid[1] & 0xff) << 8;
            } else if (op == hcDmOp) {
                domain = (int) args[0];
            } else if (op == hcSysctl) {
                cmd = sysctl.cmdLeaf().read(mem.copyFromGuest(args[0], sysctl.size()), 0);
                cmdName = sysctlNames.name(cmd);
            } else if (op == hcMemoryOp) {
                cmd = args[0] & MemoryOpHypercall.MEMOP_CMD_MASK;
                cmdName = memoryOpNames.name(cmd);
                if (cmd == xenmemSharingOp) {
                    byte[] mso = mem.copyFromGuest(args[1], memSharing.size());
                    subop = memSharing.opLeaf().read(mso, 0);
                    subopName = sharingOpNames.name(subop);
                    domain = (int) memSharing.domainLeaf().read(mso, 0);
                }
            }
        } catch (XenError unreadable) {
            // The call itself will report EFAULT; the log shows what could be read.
        }
        return new SimCall((int) op, name, cmd, cmdName, subop, subopName, domain);
    }

    /** Time passes: every running vCPU is charged one tick. */
    private void tick() {
        for (SimDomain d : table.all()) {
            if (d.isRunning()) {
                d.cpuTimeNs += TICK_NS * d.onlineVcpus.cardinality();
            }
        }
    }

    private void bootDom0(int vcpus, long memoryKb) {
        SimDomain dom0 = lifecycle.create(0, new DomainParams(new byte[16], 0, 0, vcpus, 0));
        dom0.name = "Domain-0";
        lifecycle.createVcpus(dom0, vcpus);
        dom0.onlineVcpus.set(0, vcpus);
        long pages = memoryKb / 4;
        dom0.maxPages = pages;
        dom0.p2m.populate(pages);
        // Xen unpauses dom0 itself once it is built.
        dom0.controllerPauseCount = 0;
        dom0.pauseCount = 0;
    }

    /** Event channels, for the devices and the parts of Xen that use them (under this object's lock). */
    EventChannels eventChannels() {
        return eventChannels;
    }

    /** Domain-0, where the simulated toolstack and its Linux run. */
    synchronized SimDomain dom0() {
        return table.caller();
    }

    /** A Xen refusal turned into the exception the simulator's own test-facing methods throw. */
    private static int refusedAsState(String call, IntSupplier xenCall) {
        try {
            return xenCall.getAsInt();
        } catch (XenError e) {
            throw new IllegalStateException(call + ": " + Errno.describe(e.errno()), e);
        }
    }

    private byte[] newHandle() {
        byte[] h = new byte[16];
        handles.nextBytes(h);
        return h;
    }

    private SimDomain require(int domid) {
        SimDomain d = table.byId(domid);
        if (d == null) {
            throw new IllegalArgumentException("no domain " + domid);
        }
        return d;
    }
}
