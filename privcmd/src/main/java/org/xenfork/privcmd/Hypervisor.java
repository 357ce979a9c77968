package org.xenfork.privcmd;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;

/**
 * Typed hypercalls for one Xen release over an open {@link Privcmd}: each public
 * method wraps one hypercall and its doc names it. Structs are built from the
 * release's layouts ({@link Abi}), zero-filled, pads included.
 *
 * <pre>{@code
 * try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
 *      Hypervisor xen = Hypervisor.open(privcmd, null, null, false)) {
 *     for (DomainInfo d : xen.domains()) System.out.println(d.domid());
 * }
 * }</pre>
 *
 * Not thread-safe: one caller at a time (the struct images are reused).
 */
public final class Hypervisor implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Hypervisor.class.getName());
    private static final Abi ANY = Abi.anyRelease(); // XENVER_version is asked before the release is known
    private static final int XEN_VERSION = (int) ANY.constant("__HYPERVISOR_xen_version");
    private static final int XENVER_VERSION = (int) ANY.constant("XENVER_version");
    private static final int LIST_BATCH = 64;

    private final Privcmd privcmd;
    private final Abi abi;
    private final long detectedVersionWord;
    private final HypercallObserver observer;
    private final boolean dryRun;

    private final long hDomctl;
    private final long hSysctl;
    private final long hMemoryOp;
    private final long hMulticall;
    private final long domctlVersion;
    private final long sysctlVersion;

    private final StructCall domctl;
    private final DomctlLeaves d;
    private final StructCall sysctl;
    private final SysctlLeaves y;
    private final StructCall sharing;
    private final Leaf sOp;
    private final Leaf sDomain;
    private final Leaf sParent;
    private final Leaf sFlags;
    private final long opFork;
    private final long opForkReset;
    private final long xenmemSharingOp;
    private final StructCall multicall;
    private final Leaf mOp;
    private final Leaf mArg0;
    private final Leaf mArg1;
    private final Leaf mResult;
    private final InfoLeaves info;
    private final int infoInDomctl; // offset of u.getdomaininfo in xen_domctl
    private final long cmdGetdomaininfo;
    private final HypercallBuffer small; // xen_version strings and other short outputs

    private Hypervisor(Privcmd privcmd, Abi abi, long versionWord, HypercallObserver observer, boolean dryRun)
            throws NativeException {
        this.privcmd = privcmd;
        this.abi = abi;
        this.detectedVersionWord = versionWord;
        this.observer = observer;
        this.dryRun = dryRun;
        hDomctl = abi.constant("__HYPERVISOR_domctl");
        hSysctl = abi.constant("__HYPERVISOR_sysctl");
        hMemoryOp = abi.constant("__HYPERVISOR_memory_op");
        hMulticall = abi.constant("__HYPERVISOR_multicall");
        domctlVersion = abi.constant("XEN_DOMCTL_INTERFACE_VERSION");
        sysctlVersion = abi.constant("XEN_SYSCTL_INTERFACE_VERSION");
        HypercallBuffers pool = privcmd.buffers();
        domctl = new StructCall(abi.struct("xen_domctl"), pool);
        d = new DomctlLeaves(domctl.layout);
        sysctl = new StructCall(abi.struct("xen_sysctl"), pool);
        y = new SysctlLeaves(sysctl.layout);
        sharing = new StructCall(abi.struct("xen_mem_sharing_op"), pool);
        sOp = sharing.layout.leaf("op");
        sDomain = sharing.layout.leaf("domain");
        sParent = sharing.layout.leaf("u.fork.parent_domain");
        sFlags = sharing.layout.leaf("u.fork.flags");
        opFork = abi.constant("XENMEM_sharing_op_fork");
        opForkReset = abi.constant("XENMEM_sharing_op_fork_reset");
        xenmemSharingOp = abi.constant("XENMEM_sharing_op");
        multicall = new StructCall(abi.struct("multicall_entry"), pool);
        mOp = multicall.layout.leaf("op");
        mArg0 = multicall.layout.leaf("args[0]");
        mArg1 = multicall.layout.leaf("args[1]");
        mResult = multicall.layout.leaf("result");
        info = new InfoLeaves(abi.struct("xen_domctl_getdomaininfo"), abi);
        infoInDomctl = domctl.layout.field("u.getdomaininfo").orElseThrow().offset();
        cmdGetdomaininfo = abi.constant("XEN_DOMCTL_getdomaininfo");
        small = pool.acquire(Linux.PAGE_SIZE);
    }

    /**
     * Detects the running release with {@code XENVER_version} and binds its ABI;
     * {@code release} overrides the detection (the CLI's {@code --xen}).
     *
     * @param observer sees every typed hypercall (trace, dry run), or null
     * @param dryRun   mutating calls are shown to the observer and not issued
     */
    public static Hypervisor open(Privcmd privcmd, XenRelease release, HypercallObserver observer, boolean dryRun) {
        long word;
        try {
            word = privcmd.hypercall(XEN_VERSION, XENVER_VERSION, 0, 0, 0, 0);
        } catch (NativeException e) {
            throw new XenEnvironmentException("xen_version(XENVER_version) failed: " + e.getMessage()
                    + "; is this a Xen dom0?");
        }
        XenRelease detected = XenRelease.fromVersionWord(word);
        XenRelease use = release != null ? release : detected;
        if (!XenRelease.SUPPORTED.contains(use)) {
            throw new XenEnvironmentException("this hypervisor is Xen " + detected + ", which xenfork does not support "
                    + "(supported: " + XenRelease.supportedList() + "); --xen X.Y forces another release's ABI");
        }
        LOG.log(System.Logger.Level.DEBUG, "XENVER_version says Xen {0}; using the {1} ABI{2}", detected, use,
                release != null ? " (--xen)" : "");
        try {
            return new Hypervisor(privcmd, Abi.forRelease(use), word, observer, dryRun);
        } catch (NativeException e) {
            throw new XenEnvironmentException("cannot map hypercall buffers: " + e.getMessage());
        }
    }

    /** The release whose ABI is in use (detected, or forced with {@code --xen}). */
    public XenRelease release() {
        return abi.release();
    }

    /** The release {@code XENVER_version} reported. */
    public XenRelease detectedRelease() {
        return XenRelease.fromVersionWord(detectedVersionWord);
    }

    public Abi abi() {
        return abi;
    }

    /** True under {@code --dry-run}: mutating calls are shown to the observer and not issued. */
    public boolean dryRun() {
        return dryRun;
    }

    // ---- xen_version ----

    /** {@code XENVER_version}: {@code (major << 16) | minor}. */
    public long versionWord() {
        return detectedVersionWord;
    }

    /** {@code XENVER_extraversion}, e.g. {@code .7}. */
    public String extraversion() {
        return versionString("XENVER_extraversion", abi.typedefSize("xen_extraversion_t").orElseThrow());
    }

    /** {@code XENVER_capabilities}, e.g. {@code xen-3.0-x86_64 hvm-3.0-x86_32 …}. */
    public String capabilities() {
        return versionString("XENVER_capabilities", abi.typedefSize("xen_capabilities_info_t").orElseThrow());
    }

    /** {@code XENVER_changeset}. */
    public String changeset() {
        return versionString("XENVER_changeset", abi.typedefSize("xen_changeset_info_t").orElseThrow());
    }

    /** {@code XENVER_compile_info}: compiler, compile_by, compile_domain, compile_date. */
    public Map<String, String> compileInfo() {
        StructLayout ci = abi.struct("xen_compile_info");
        byte[] raw = versionBytes("XENVER_compile_info", ci.size());
        Map<String, String> out = new java.util.LinkedHashMap<>();
        for (String f : List.of("compiler", "compile_by", "compile_domain", "compile_date")) {
            var field = ci.field(f).orElseThrow();
            out.put(f, cString(raw, field.offset(), field.size()));
        }
        return out;
    }

    private String versionString(String sub, int size) {
        return cString(versionBytes(sub, size), 0, size);
    }

    private byte[] versionBytes(String sub, int size) {
        byte[] zero = new byte[size];
        small.put(zero, size);
        try {
            privcmd.hypercall(XEN_VERSION, abi.constant(sub), small.address(), 0, 0, 0);
        } catch (NativeException e) {
            throw new XenException(sub, -1, e.errno(), XenException.hintFor(sub, e.errno()));
        }
        return small.get(size);
    }

    private static String cString(byte[] b, int off, int max) {
        int end = off;
        while (end < off + max && b[end] != 0) {
            end++;
        }
        return new String(b, off, end - off, StandardCharsets.UTF_8);
    }

    // ---- domctl ----

    private String domctlName; // Xen's name of the domctl being built, for errors and the trace

    private void beginDomctl(String cmd, int domid) {
        checkDomid(cmd, domid);
        beginDomctlChecked(cmd, domid);
    }

    private void beginDomctlChecked(String cmd, int domid) {
        domctlName = cmd;
        domctl.reset();
        domctl.set(d.cmd, abi.constant(cmd));
        domctl.set(d.version, domctlVersion);
        domctl.set(d.domain, domid);
    }

    /** Issues the domctl built in {@link #domctl}; Xen's copy-back lands in the image even on failure. */
    private void issueDomctl(int domid, boolean mutating) {
        issue(domctl, hDomctl, domctlName, domid, mutating);
    }

    private void issue(StructCall call, long hypercall, String name, int domid, boolean mutating) {
        issue(call, hypercall, name, domid, mutating, call.address(), 0, 0);
    }

    /**
     * Issues {@code hypercall(a0, a1, a2)} whose argument struct is {@code call} (pushed before,
     * pulled after, shown to the observer; a dry run of a mutating call issues nothing and answers
     * 0); an errno becomes a {@link XenException} naming {@code name}. For the calls of
     * {@link VmEventHypercalls} too, which pass a command or a domain before the struct.
     */
    long issue(StructCall call, long hypercall, String name, int domid, boolean mutating, long a0, long a1, long a2) {
        byte[] sent = observer == null ? null : call.bytes.clone();
        if (mutating && dryRun) {
            if (observer != null) {
                observer.hypercall(name, call.layout, sent, null, 0, false);
            }
            return 0;
        }
        call.push();
        int errno = 0;
        long result = 0;
        try {
            result = privcmd.hypercall(hypercall, a0, a1, a2, 0, 0);
        } catch (NativeException e) {
            errno = e.errno();
        }
        call.pull();
        if (observer != null) {
            observer.hypercall(name, call.layout, sent, call.bytes.clone(), errno != 0 ? -errno : result, true);
        }
        if (errno != 0) {
            throw refused(name, domid, errno);
        }
        return result;
    }

    Privcmd privcmd() {
        return privcmd;
    }

    private XenException refused(String name, int domid, int errno) {
        String hint = XenException.hintFor(name, errno);
        if (errno == Errno.EACCES && (name.startsWith("XEN_DOMCTL") || name.startsWith("XEN_SYSCTL"))) {
            hint = "the hypervisor refused interface version 0x" + Long.toHexString(name.startsWith("XEN_DOMCTL") ? domctlVersion : sysctlVersion)
                    + " (Xen " + abi.release() + " ABI; XENVER_version says " + detectedRelease() + "); "
                    + "run with --xen X.Y naming the hypervisor's real release";
        }
        return new XenException(name, domid, errno, hint);
    }

    /**
     * {@code XEN_DOMCTL_getdomaininfo} for exactly {@code domid}. Up to 4.17 Xen
     * answers with the first domain at or above the id; that is an ESRCH here too.
     */
    public DomainInfo domainInfo(int domid) {
        checkDomid("XEN_DOMCTL_getdomaininfo", domid);
        domctlName = "XEN_DOMCTL_getdomaininfo";
        domctl.reset();
        domctl.set(d.cmd, cmdGetdomaininfo);
        domctl.set(d.version, domctlVersion);
        domctl.set(d.domain, domid);
        issueDomctl(domid, false);
        DomainInfo found = info.decode(domctl.bytes, infoInDomctl);
        if (found.domid() != domid) {
            throw new XenException("XEN_DOMCTL_getdomaininfo", domid, Errno.ESRCH, "no such domain");
        }
        return found;
    }

    /**
     * The xen_domctl members the calls here set or read, resolved once per release,
     * as every struct member is reached here: no call looks a member up by name.
     * A member the release lacks is null.
     */
    private static final class DomctlLeaves {
        final Leaf cmd, version, domain;
        final Leaf createSsidref, createFlags, createIommuOpts, createMaxVcpus, createMaxEvtchnPort;
        final Leaf createMaxGrantFrames, createMaxMaptrackFrames, createEmulationFlags;
        final Leaf createGrantOpts, createVmtraceSize, createCpupoolId, createMiscFlags; // not in every release
        final Leaf[] createHandle = new Leaf[16];
        final Leaf maxMemKb, maxVcpus;
        final Leaf hvmSize, hvmBuffer;
        final Leaf partialType, partialInstance, partialBufsz, partialBuffer;

        DomctlLeaves(StructLayout s) {
            cmd = s.leaf("cmd");
            version = s.leaf("interface_version");
            domain = s.leaf("domain");
            String c = "u.createdomain.";
            createSsidref = s.leaf(c + "ssidref");
            for (int i = 0; i < 16; i++) {
                createHandle[i] = s.leaf(c + "handle[" + i + "]");
            }
            createFlags = s.leaf(c + "flags");
            createIommuOpts = s.leaf(c + "iommu_opts");
            createMaxVcpus = s.leaf(c + "max_vcpus");
            createMaxEvtchnPort = s.leaf(c + "max_evtchn_port");
            createMaxGrantFrames = s.leaf(c + "max_grant_frames");
            createMaxMaptrackFrames = s.leaf(c + "max_maptrack_frames");
            createEmulationFlags = s.leaf(c + "arch.emulation_flags");
            createGrantOpts = optional(s, c + "grant_opts");       // 4.16+
            createVmtraceSize = optional(s, c + "vmtrace_size");   // 4.15+
            createCpupoolId = optional(s, c + "cpupool_id");       // 4.17+
            createMiscFlags = optional(s, c + "arch.misc_flags");  // 4.15+
            maxMemKb = s.leaf("u.max_mem.max_memkb");
            maxVcpus = s.leaf("u.max_vcpus.max");
            hvmSize = s.leaf("u.hvmcontext.size");
            hvmBuffer = s.leaf("u.hvmcontext.buffer");
            partialType = s.leaf("u.hvmcontext_partial.type");
            partialInstance = s.leaf("u.hvmcontext_partial.instance");
            partialBufsz = s.leaf("u.hvmcontext_partial.bufsz");
            partialBuffer = s.leaf("u.hvmcontext_partial.buffer");
        }
    }

    /** The xen_sysctl members the calls here set or read, resolved once per release. */
    private static final class SysctlLeaves {
        final Leaf cmd, version;
        final Leaf listFirstDomain, listMaxDomains, listBuffer, listNumDomains;
        final Leaf threadsPerCore, coresPerSocket, nrCpus, maxCpuId, nrNodes, cpuKhz, capabilities;
        final Leaf totalPages, freePages, scrubPages;

        SysctlLeaves(StructLayout s) {
            cmd = s.leaf("cmd");
            version = s.leaf("interface_version");
            String l = "u.getdomaininfolist.";
            listFirstDomain = s.leaf(l + "first_domain");
            listMaxDomains = s.leaf(l + "max_domains");
            listBuffer = s.leaf(l + "buffer");
            listNumDomains = s.leaf(l + "num_domains");
            String p = "u.physinfo.";
            threadsPerCore = s.leaf(p + "threads_per_core");
            coresPerSocket = s.leaf(p + "cores_per_socket");
            nrCpus = s.leaf(p + "nr_cpus");
            maxCpuId = s.leaf(p + "max_cpu_id");
            nrNodes = s.leaf(p + "nr_nodes");
            cpuKhz = s.leaf(p + "cpu_khz");
            capabilities = s.leaf(p + "capabilities");
            totalPages = s.leaf(p + "total_pages");
            freePages = s.leaf(p + "free_pages");
            scrubPages = s.leaf(p + "scrub_pages");
        }
    }

    private static Leaf optional(StructLayout s, String path) {
        return s.field(path).isPresent() ? s.leaf(path) : null;
    }

    /**
     * The leaves of xen_domctl_getdomaininfo, resolved once: a getdomaininfo and
     * each entry of a getdomaininfolist buffer decode without a name lookup.
     */
    private static final class InfoLeaves {
        final int size;
        final Leaf domain, flags, totPages, maxPages, outstanding, shrPages, pagedPages, sharedInfo, cpuTime;
        final Leaf onlineVcpus, maxVcpuId, ssidref, cpupool, gpaddrBits, emulationFlags, miscFlags;
        final int handle;
        final Map<DomainFlag, Long> flagBits = new java.util.EnumMap<>(DomainFlag.class);
        final long shutdownShift;
        final long shutdownMask;

        InfoLeaves(StructLayout s, Abi abi) {
            for (DomainFlag f : DomainFlag.values()) {
                flagBits.put(f, abi.constant(f.xenName()));
            }
            shutdownShift = abi.constant("XEN_DOMINF_shutdownshift");
            shutdownMask = abi.constant("XEN_DOMINF_shutdownmask");
            size = s.size();
            domain = s.leaf("domain");
            flags = s.leaf("flags");
            totPages = s.leaf("tot_pages");
            maxPages = s.leaf("max_pages");
            outstanding = s.leaf("outstanding_pages");
            shrPages = s.leaf("shr_pages");
            pagedPages = s.leaf("paged_pages");
            sharedInfo = s.leaf("shared_info_frame");
            cpuTime = s.leaf("cpu_time");
            onlineVcpus = s.leaf("nr_online_vcpus");
            maxVcpuId = s.leaf("max_vcpu_id");
            ssidref = s.leaf("ssidref");
            cpupool = s.leaf("cpupool");
            gpaddrBits = optional(s, "gpaddr_bits"); // 4.16+
            emulationFlags = s.leaf("arch_config.emulation_flags");
            miscFlags = optional(s, "arch_config.misc_flags"); // 4.15+
            handle = s.field("handle").orElseThrow().offset();
        }

        DomainInfo decode(byte[] b, int base) {
            long word = flags.read(b, base);
            java.util.Set<DomainFlag> states = java.util.EnumSet.noneOf(DomainFlag.class);
            flagBits.forEach((f, bit) -> {
                if ((word & bit) != 0) {
                    states.add(f);
                }
            });
            return new DomainInfo((int) domain.read(b, base), word, states, (int) ((word >>> shutdownShift) & shutdownMask),
                    totPages.read(b, base),
                    maxPages.read(b, base), outstanding.read(b, base), shrPages.read(b, base), pagedPages.read(b, base),
                    sharedInfo.read(b, base), cpuTime.read(b, base), (int) onlineVcpus.read(b, base),
                    (int) maxVcpuId.read(b, base), ssidref.read(b, base),
                    java.util.Arrays.copyOfRange(b, base + handle, base + handle + 16), (int) cpupool.read(b, base),
                    gpaddrBits == null ? 0 : (int) gpaddrBits.read(b, base), emulationFlags.read(b, base),
                    miscFlags == null ? 0 : miscFlags.read(b, base));
        }
    }

    /** {@code XEN_DOMCTL_createdomain}; returns the new domain's id. The domain starts paused by us. */
    public int createDomain(int requestedDomid, DomainConfig c) {
        // Any 16-bit id: 1..0x7fef asks for that id, anything else lets Xen allocate one.
        checkDomid("XEN_DOMCTL_createdomain", requestedDomid, 0xffff);
        beginDomctlChecked("XEN_DOMCTL_createdomain", requestedDomid);
        domctl.set(d.createSsidref, c.ssidref());
        for (int i = 0; i < 16; i++) {
            domctl.set(d.createHandle[i], c.handle()[i] & 0xff);
        }
        domctl.set(d.createFlags, c.flags());
        domctl.set(d.createIommuOpts, c.iommuOpts());
        domctl.set(d.createMaxVcpus, c.maxVcpus());
        domctl.set(d.createMaxEvtchnPort, c.maxEvtchnPort());
        domctl.set(d.createMaxGrantFrames, c.maxGrantFrames() & 0xffffffffL);
        domctl.set(d.createMaxMaptrackFrames, c.maxMaptrackFrames() & 0xffffffffL);
        setIfPresent(d.createGrantOpts, "grant_opts", c.grantOpts());
        setIfPresent(d.createVmtraceSize, "vmtrace_size", c.vmtraceSize());
        setIfPresent(d.createCpupoolId, "cpupool_id", c.cpupoolId());
        domctl.set(d.createEmulationFlags, c.emulationFlags());
        setIfPresent(d.createMiscFlags, "arch.misc_flags", c.miscFlags());
        issueDomctl(requestedDomid, true);
        return (int) domctl.get(d.domain);
    }

    /** Sets a createdomain member that not every release has (its leaf is null there): 0 is all it may be then. */
    private void setIfPresent(Leaf member, String name, long value) {
        if (member != null) {
            domctl.set(member, value);
        } else if (value != 0) {
            throw new IllegalArgumentException("u.createdomain." + name + " does not exist in Xen " + abi.release()
                    + "; it must be 0");
        }
    }

    /** {@code XEN_DOMCTL_destroydomain}. */
    public void destroyDomain(int domid) {
        beginDomctl("XEN_DOMCTL_destroydomain", domid);
        issueDomctl(domid, true);
    }

    /** {@code XEN_DOMCTL_pausedomain}: one controller pause. */
    public void pauseDomain(int domid) {
        beginDomctl("XEN_DOMCTL_pausedomain", domid);
        issueDomctl(domid, true);
    }

    /** {@code XEN_DOMCTL_unpausedomain}: undoes the controller pause. */
    public void unpauseDomain(int domid) {
        beginDomctl("XEN_DOMCTL_unpausedomain", domid);
        issueDomctl(domid, true);
    }

    /** {@code XEN_DOMCTL_max_mem}. */
    public void setMaxMem(int domid, long maxKb) {
        beginDomctl("XEN_DOMCTL_max_mem", domid);
        domctl.set(d.maxMemKb, maxKb);
        issueDomctl(domid, true);
    }

    /** {@code XEN_DOMCTL_max_vcpus}. */
    public void setMaxVcpus(int domid, int max) {
        beginDomctl("XEN_DOMCTL_max_vcpus", domid);
        domctl.set(d.maxVcpus, max);
        issueDomctl(domid, true);
    }

    /** {@code XEN_DOMCTL_gethvmcontext}: the size query (NULL buffer), then the whole save stream. */
    public byte[] hvmContext(int domid) {
        beginDomctl("XEN_DOMCTL_gethvmcontext", domid);
        issueDomctl(domid, false);
        int size = (int) domctl.get(d.hvmSize);
        if (size <= 0 || size > 64 << 20) {
            throw new XenException("XEN_DOMCTL_gethvmcontext", domid, Errno.EINVAL,
                    "the hypervisor reported an implausible context size " + size);
        }
        try (HypercallBuffer buf = acquire(size)) {
            beginDomctl("XEN_DOMCTL_gethvmcontext", domid);
            domctl.set(d.hvmSize, size);
            domctl.set(d.hvmBuffer, buf.address());
            issueDomctl(domid, false);
            int used = (int) domctl.get(d.hvmSize);
            return buf.get(Math.min(used, size));
        }
    }

    /** {@code XEN_DOMCTL_sethvmcontext}: loads a whole save stream into the domain. */
    public void setHvmContext(int domid, byte[] stream) {
        if (stream.length == 0 || stream.length > HypercallBuffers.MAX_BYTES) {
            throw new IllegalArgumentException("an HVM context of " + stream.length + " bytes (1 to "
                    + HypercallBuffers.MAX_BYTES + " allowed)");
        }
        try (HypercallBuffer buf = acquire(stream.length)) {
            buf.put(stream, stream.length);
            beginDomctl("XEN_DOMCTL_sethvmcontext", domid);
            domctl.set(d.hvmSize, stream.length);
            domctl.set(d.hvmBuffer, buf.address());
            issueDomctl(domid, true);
        }
    }

    /**
     * {@code XEN_DOMCTL_gethvmcontext_partial}: one record's body (without its
     * descriptor): the size query, then the record.
     */
    public byte[] hvmContextPartial(int domid, int typecode, int instance) {
        beginDomctl("XEN_DOMCTL_gethvmcontext_partial", domid);
        domctl.set(d.partialType, typecode);
        domctl.set(d.partialInstance, instance);
        issueDomctl(domid, false);
        int size = (int) domctl.get(d.partialBufsz);
        if (size <= 0 || size > 16 << 20) {
            throw new XenException("XEN_DOMCTL_gethvmcontext_partial", domid, Errno.EINVAL,
                    "the hypervisor reported an implausible record size " + size);
        }
        try (HypercallBuffer buf = acquire(size)) {
            beginDomctl("XEN_DOMCTL_gethvmcontext_partial", domid);
            domctl.set(d.partialType, typecode);
            domctl.set(d.partialInstance, instance);
            domctl.set(d.partialBufsz, size);
            domctl.set(d.partialBuffer, buf.address());
            issueDomctl(domid, false);
            return buf.get(size);
        }
    }

    private HypercallBuffer acquire(int size) {
        try {
            return privcmd.buffers().acquire(size);
        } catch (NativeException e) {
            throw new XenEnvironmentException("cannot map a " + size + "-byte hypercall buffer: " + e.getMessage());
        }
    }

    // ---- sysctl ----

    private void beginSysctl(String cmd) {
        sysctl.reset();
        sysctl.set(y.cmd, abi.constant(cmd));
        sysctl.set(y.version, sysctlVersion);
    }

    /** {@code XEN_SYSCTL_getdomaininfolist}, from domain 0 on, in batches, until Xen has no more. */
    public List<DomainInfo> domains() {
        List<DomainInfo> out = new ArrayList<>();
        int stride = info.size; // 104 bytes up to 4.15, 112 from 4.16
        try (HypercallBuffer buf = acquire(LIST_BATCH * stride)) {
            int first = 0;
            while (first < Domid.FIRST_RESERVED) {
                beginSysctl("XEN_SYSCTL_getdomaininfolist");
                sysctl.set(y.listFirstDomain, first);
                sysctl.set(y.listMaxDomains, LIST_BATCH);
                sysctl.set(y.listBuffer, buf.address());
                issue(sysctl, hSysctl, "XEN_SYSCTL_getdomaininfolist", -1, false);
                int n = (int) sysctl.get(y.listNumDomains);
                if (n < 0 || n > LIST_BATCH) {
                    throw new XenException("XEN_SYSCTL_getdomaininfolist", -1, Errno.EINVAL,
                            "the hypervisor returned " + n + " domains for a buffer of " + LIST_BATCH);
                }
                byte[] raw = buf.get(n * stride);
                for (int i = 0; i < n; i++) {
                    out.add(info.decode(raw, i * stride));
                }
                if (n < LIST_BATCH) {
                    break;
                }
                first = out.get(out.size() - 1).domid() + 1;
            }
        }
        return out;
    }

    /** {@code XEN_SYSCTL_physinfo}. */
    public PhysInfo physinfo() {
        beginSysctl("XEN_SYSCTL_physinfo");
        issue(sysctl, hSysctl, "XEN_SYSCTL_physinfo", -1, false);
        return new PhysInfo((int) sysctl.get(y.threadsPerCore), (int) sysctl.get(y.coresPerSocket),
                (int) sysctl.get(y.nrCpus), (int) sysctl.get(y.maxCpuId), (int) sysctl.get(y.nrNodes),
                sysctl.get(y.cpuKhz), sysctl.get(y.capabilities), sysctl.get(y.totalPages), sysctl.get(y.freePages),
                sysctl.get(y.scrubPages));
    }

    // ---- memory sharing ----

    /**
     * {@code XENMEM_sharing_op_fork}: makes {@code child} (empty, paused by us,
     * same max_vcpus) a fork of {@code parent}. {@code flags}: XENMEM_FORK_*.
     */
    public void fork(int parent, int child, int flags) {
        checkDomid("XENMEM_sharing_op_fork", parent);
        checkFlags("XENMEM_sharing_op_fork", flags);
        beginSharing(opFork, child);
        sharing.set(sParent, parent);
        sharing.set(sFlags, flags);
        issueMemoryOp("XENMEM_sharing_op_fork", child);
    }

    /** How often fork_reset is retried on EAGAIN (4.18+: Xen's -ERESTART, as there is no continuation). */
    public static final int FORK_RESET_ATTEMPTS = 100;

    /**
     * {@code XENMEM_sharing_op_fork_reset}. {@code flags} must be 0 up to 4.16 and a
     * non-empty subset of XENMEM_FORK_RESET_STATE|MEMORY from 4.17. From 4.18 Xen
     * answers EAGAIN where it would have restarted; the call is repeated, at most
     * {@link #FORK_RESET_ATTEMPTS} times in all, before the EAGAIN is thrown.
     */
    public void forkReset(int child, int flags) {
        checkFlags("XENMEM_sharing_op_fork_reset", flags);
        for (int attempt = 1; ; attempt++) {
            beginSharing(opForkReset, child);
            sharing.set(sFlags, flags);
            try {
                issueMemoryOp("XENMEM_sharing_op_fork_reset", child);
                return;
            } catch (XenException e) {
                if (e.errno() != Errno.EAGAIN || attempt >= FORK_RESET_ATTEMPTS || !abi.release().atLeast(4, 18)) {
                    throw e;
                }
            }
        }
    }

    /**
     * Domain ids from callers must name a domain (0..0x7fef), or domid_t's 16 bits
     * would cut them silently: 65537 would name domain 1.
     */
    static void checkDomid(String call, int domid) {
        checkDomid(call, domid, Domid.FIRST_RESERVED - 1);
    }

    private static void checkDomid(String call, int domid, int limit) {
        if (domid < 0 || domid > limit) {
            throw new IllegalArgumentException(call + ": domain id " + domid + " is out of range 0.." + limit);
        }
    }

    private static void checkFlags(String call, int flags) {
        if (flags < 0 || flags > 0xffff) {
            throw new IllegalArgumentException(call + ": flags 0x" + Integer.toHexString(flags) + " do not fit u16");
        }
    }

    private void beginSharing(long op, int domid) {
        checkDomid(op == opFork ? "XENMEM_sharing_op_fork" : "XENMEM_sharing_op_fork_reset", domid);
        sharing.reset();
        sharing.set(sOp, op);
        sharing.set(sDomain, domid);
    }

    /**
     * memory_op(XENMEM_sharing_op). From 4.16 libxc sends memory_op as a
     * one-entry multicall, whose 64-bit result slot is not cut to ioctl's int;
     * we do the same from 4.16 on, and call it directly before.
     */
    private void issueMemoryOp(String name, int domid) {
        long cmd = xenmemSharingOp;
        byte[] sent = observer == null ? null : sharing.bytes.clone();
        if (dryRun) {
            if (observer != null) {
                observer.hypercall(name, sharing.layout, sent, null, 0, false);
            }
            return;
        }
        sharing.push();
        long result;
        if (abi.release().atLeast(4, 16)) {
            multicall.reset();
            multicall.set(mOp, hMemoryOp);
            multicall.set(mArg0, cmd);
            multicall.set(mArg1, sharing.address());
            multicall.push();
            try {
                privcmd.hypercall(hMulticall, multicall.address(), 1, 0, 0, 0);
            } catch (NativeException e) {
                throw refused("__HYPERVISOR_multicall", domid, e.errno());
            }
            multicall.pull();
            result = multicall.get(mResult);
        } else {
            try {
                result = privcmd.hypercall(hMemoryOp, cmd, sharing.address(), 0, 0, 0);
            } catch (NativeException e) {
                result = -e.errno();
            }
        }
        sharing.pull();
        if (observer != null) {
            observer.hypercall(name, sharing.layout, sent, sharing.bytes.clone(), result, true);
        }
        if (result < 0 && result >= -4095) {
            throw refused(name, domid, (int) -result);
        }
    }

    @Override
    public void close() {
        domctl.buffer.close();
        sysctl.buffer.close();
        sharing.buffer.close();
        multicall.buffer.close();
        small.close();
    }
}
