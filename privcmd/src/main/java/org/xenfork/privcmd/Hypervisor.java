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
    private final Leaf dCmd;
    private final Leaf dVersion;
    private final Leaf dDomain;
    private final StructCall sysctl;
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
        dCmd = domctl.layout.leaf("cmd");
        dVersion = domctl.layout.leaf("interface_version");
        dDomain = domctl.layout.leaf("domain");
        sysctl = new StructCall(abi.struct("xen_sysctl"), pool);
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
        info = new InfoLeaves(abi.struct("xen_domctl_getdomaininfo"));
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
        domctl.set(dCmd, abi.constant(cmd));
        domctl.set(dVersion, domctlVersion);
        domctl.set(dDomain, domid);
    }

    private void setMember(String path, long value) {
        domctl.set(domctl.layout.leaf(path), value);
    }

    private long getMember(String path) {
        return domctl.get(domctl.layout.leaf(path));
    }

    /** Issues the domctl built in {@link #domctl}; Xen's copy-back lands in the image even on failure. */
    private void issueDomctl(int domid, boolean mutating) {
        issue(domctl, hDomctl, domctlName, domid, mutating);
    }

    private void issue(StructCall call, long hypercall, String name, int domid, boolean mutating) {
        byte[] sent = observer == null ? null : call.bytes.clone();
        if (mutating && dryRun) {
            if (observer != null) {
                observer.hypercall(name, call.layout, sent, null, 0, false);
            }
            return;
        }
        call.push();
        int errno = 0;
        try {
            privcmd.hypercall(hypercall, call.address(), 0, 0, 0, 0);
        } catch (NativeException e) {
            errno = e.errno();
        }
        call.pull();
        if (observer != null) {
            observer.hypercall(name, call.layout, sent, call.bytes.clone(), -errno, true);
        }
        if (errno != 0) {
            throw refused(name, domid, errno);
        }
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
        domctl.set(dCmd, cmdGetdomaininfo);
        domctl.set(dVersion, domctlVersion);
        domctl.set(dDomain, domid);
        issueDomctl(domid, false);
        DomainInfo d = info.decode(domctl.bytes, infoInDomctl);
        if (d.domid() != domid) {
            throw new XenException("XEN_DOMCTL_getdomaininfo", domid, Errno.ESRCH, "no such domain");
        }
        return d;
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

        InfoLeaves(StructLayout s) {
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
            gpaddrBits = s.field("gpaddr_bits").isPresent() ? s.leaf("gpaddr_bits") : null; // 4.16+
            emulationFlags = s.leaf("arch_config.emulation_flags");
            miscFlags = s.field("arch_config.misc_flags").isPresent() ? s.leaf("arch_config.misc_flags") : null; // 4.15+
            handle = s.field("handle").orElseThrow().offset();
        }

        DomainInfo decode(byte[] b, int base) {
            return new DomainInfo((int) domain.read(b, base), flags.read(b, base), totPages.read(b, base),
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
        String m = "u.createdomain.";
        setMember(m + "ssidref", c.ssidref());
        for (int i = 0; i < 16; i++) {
            setMember(m + "handle[" + i + "]", c.handle()[i] & 0xff);
        }
        setMember(m + "flags", c.flags());
        setMember(m + "iommu_opts", c.iommuOpts());
        setMember(m + "max_vcpus", c.maxVcpus());
        setMember(m + "max_evtchn_port", c.maxEvtchnPort());
        setMember(m + "max_grant_frames", c.maxGrantFrames() & 0xffffffffL);
        setMember(m + "max_maptrack_frames", c.maxMaptrackFrames() & 0xffffffffL);
        setIfPresent(m + "grant_opts", c.grantOpts());
        setIfPresent(m + "vmtrace_size", c.vmtraceSize());
        setIfPresent(m + "cpupool_id", c.cpupoolId());
        setMember(m + "arch.emulation_flags", c.emulationFlags());
        setIfPresent(m + "arch.misc_flags", c.miscFlags());
        issueDomctl(requestedDomid, true);
        return (int) domctl.get(dDomain);
    }

    private void setIfPresent(String path, long value) {
        if (domctl.layout.field(path).isPresent()) {
            setMember(path, value);
        } else if (value != 0) {
            throw new IllegalArgumentException(path + " does not exist in Xen " + abi.release() + "; it must be 0");
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
        setMember("u.max_mem.max_memkb", maxKb);
        issueDomctl(domid, true);
    }

    /** {@code XEN_DOMCTL_max_vcpus}. */
    public void setMaxVcpus(int domid, int max) {
        beginDomctl("XEN_DOMCTL_max_vcpus", domid);
        setMember("u.max_vcpus.max", max);
        issueDomctl(domid, true);
    }

    /** {@code XEN_DOMCTL_gethvmcontext}: the size query (NULL buffer), then the whole save stream. */
    public byte[] hvmContext(int domid) {
        beginDomctl("XEN_DOMCTL_gethvmcontext", domid);
        issueDomctl(domid, false);
        int size = (int) getMember("u.hvmcontext.size");
        if (size <= 0 || size > 64 << 20) {
            throw new XenException("XEN_DOMCTL_gethvmcontext", domid, Errno.EINVAL,
                    "the hypervisor reported an implausible context size " + size);
        }
        try (HypercallBuffer buf = acquire(size)) {
            beginDomctl("XEN_DOMCTL_gethvmcontext", domid);
            setMember("u.hvmcontext.size", size);
            setMember("u.hvmcontext.buffer", buf.address());
            issueDomctl(domid, false);
            int used = (int) getMember("u.hvmcontext.size");
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
            setMember("u.hvmcontext.size", stream.length);
            setMember("u.hvmcontext.buffer", buf.address());
            issueDomctl(domid, true);
        }
    }

    /**
     * {@code XEN_DOMCTL_gethvmcontext_partial}: one record's body (without its
     * descriptor): the size query, then the record.
     */
    public byte[] hvmContextPartial(int domid, int typecode, int instance) {
        beginDomctl("XEN_DOMCTL_gethvmcontext_partial", domid);
        setMember("u.hvmcontext_partial.type", typecode);
        setMember("u.hvmcontext_partial.instance", instance);
        issueDomctl(domid, false);
        int size = (int) getMember("u.hvmcontext_partial.bufsz");
        if (size <= 0 || size > 16 << 20) {
            throw new XenException("XEN_DOMCTL_gethvmcontext_partial", domid, Errno.EINVAL,
                    "the hypervisor reported an implausible record size " + size);
        }
        try (HypercallBuffer buf = acquire(size)) {
            beginDomctl("XEN_DOMCTL_gethvmcontext_partial", domid);
            setMember("u.hvmcontext_partial.type", typecode);
            setMember("u.hvmcontext_partial.instance", instance);
            setMember("u.hvmcontext_partial.bufsz", size);
            setMember("u.hvmcontext_partial.buffer", buf.address());
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
        sysctl.set(sysctl.layout.leaf("cmd"), abi.constant(cmd));
        sysctl.set(sysctl.layout.leaf("interface_version"), sysctlVersion);
    }

    /** {@code XEN_SYSCTL_getdomaininfolist}, from domain 0 on, in batches, until Xen has no more. */
    public List<DomainInfo> domains() {
        List<DomainInfo> out = new ArrayList<>();
        int stride = info.size; // 104 bytes up to 4.15, 112 from 4.16
        StructLayout s = sysctl.layout;
        try (HypercallBuffer buf = acquire(LIST_BATCH * stride)) {
            int first = 0;
            while (first < Domid.FIRST_RESERVED) {
                beginSysctl("XEN_SYSCTL_getdomaininfolist");
                sysctl.set(s.leaf("u.getdomaininfolist.first_domain"), first);
                sysctl.set(s.leaf("u.getdomaininfolist.max_domains"), LIST_BATCH);
                sysctl.set(s.leaf("u.getdomaininfolist.buffer"), buf.address());
                issue(sysctl, hSysctl, "XEN_SYSCTL_getdomaininfolist", -1, false);
                int n = (int) sysctl.get(s.leaf("u.getdomaininfolist.num_domains"));
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
        StructLayout s = sysctl.layout;
        String p = "u.physinfo.";
        return new PhysInfo((int) sysctl.get(s.leaf(p + "threads_per_core")), (int) sysctl.get(s.leaf(p + "cores_per_socket")),
                (int) sysctl.get(s.leaf(p + "nr_cpus")), (int) sysctl.get(s.leaf(p + "max_cpu_id")),
                (int) sysctl.get(s.leaf(p + "nr_nodes")),
                sysctl.get(s.leaf(p + "cpu_khz")), sysctl.get(s.leaf(p + "capabilities")),
                sysctl.get(s.leaf(p + "total_pages")), sysctl.get(s.leaf(p + "free_pages")),
                sysctl.get(s.leaf(p + "scrub_pages")));
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
    private static void checkDomid(String call, int domid) {
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
