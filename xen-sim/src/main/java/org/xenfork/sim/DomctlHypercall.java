package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_domctl} (36): {@code do_domctl} in xen/common/domctl.c
 * and {@code arch_do_domctl} in xen/arch/x86/domctl.c, for the commands the
 * fork workflow uses. Any other command is ENOSYS (the x86 default), after
 * the same version check and domain lookup as real commands.
 *
 * <p>Order of checks, as in Xen: copy the 144-byte {@code xen_domctl} in
 * (EFAULT), {@code interface_version} (EACCES), look the domain up (ESRCH;
 * up to 4.17 getdomaininfo is exempt and searches for the next domain), then
 * the command. Copy-back of the whole struct follows Xen per command, and a
 * failed copy-back is EFAULT. The 4.21+ "stable" get_domain_state exception to
 * the version check is not modelled.
 */
final class DomctlHypercall {
    /** The largest context sethvmcontext will allocate here (a simulator bound; Xen's is its heap). */
    private static final long MAX_CONTEXT = 16L << 20;

    private final DomainTable domains;
    private final DomainLifecycle lifecycle;
    private final CreateDomain createDomain;
    private final GetDomainInfoReply domainInfo;
    private final HvmSaveRestore hvm;
    private final Host host;
    private final boolean getdomaininfoExact;
    private final int size;
    private final long interfaceVersion;
    private final Leaf cmdLeaf;
    private final Leaf versionLeaf;
    private final Leaf domainLeaf;
    private final int getdomaininfoOffset;
    private final Leaf hvmSize;
    private final Leaf hvmBuffer;
    private final Leaf partialType;
    private final Leaf partialInstance;
    private final Leaf partialBufsz;
    private final Leaf partialBuffer;
    private final Leaf maxMemKb;
    private final Leaf maxVcpusMax;
    private final long createdomain;
    private final long destroydomain;
    private final long pausedomain;
    private final long unpausedomain;
    private final long getdomaininfo;
    private final long maxMem;
    private final long maxVcpus;
    private final long gethvmcontext;
    private final long sethvmcontext;
    private final long gethvmcontextPartial;
    private final long vmEventOp;
    private final long monitorOp;
    private final long getpageframeinfo3;
    private final long domidInvalid;
    private final VmEventMonitor monitor;

    /** One domctl in flight: the struct as copied in, and whether Xen copies it back. */
    private static final class Request {
        final byte[] op;
        boolean copyback;

        Request(byte[] op) {
            this.op = op;
        }
    }

    DomctlHypercall(Abi abi, DomainTable domains, DomainLifecycle lifecycle, GetDomainInfoReply domainInfo,
                    HvmSaveRestore hvm, Host host, VmEventMonitor monitor) {
        this.domains = domains;
        this.monitor = monitor;
        this.lifecycle = lifecycle;
        this.createDomain = new CreateDomain(abi, host);
        this.domainInfo = domainInfo;
        this.hvm = hvm;
        this.host = host;
        // Commit bdb1184d4f (4.18, interface 0x16): exact match or ESRCH.
        this.getdomaininfoExact = abi.release().atLeast(4, 18);
        StructLayout s = abi.struct("xen_domctl");
        this.size = s.size();
        this.interfaceVersion = abi.constant("XEN_DOMCTL_INTERFACE_VERSION");
        this.cmdLeaf = s.leaf("cmd");
        this.versionLeaf = s.leaf("interface_version");
        this.domainLeaf = s.leaf("domain");
        this.getdomaininfoOffset = s.field("u.getdomaininfo").orElseThrow().offset();
        this.hvmSize = s.leaf("u.hvmcontext.size");
        this.hvmBuffer = s.leaf("u.hvmcontext.buffer");
        this.partialType = s.leaf("u.hvmcontext_partial.type");
        this.partialInstance = s.leaf("u.hvmcontext_partial.instance");
        this.partialBufsz = s.leaf("u.hvmcontext_partial.bufsz");
        this.partialBuffer = s.leaf("u.hvmcontext_partial.buffer");
        this.maxMemKb = s.leaf("u.max_mem.max_memkb");
        this.maxVcpusMax = s.leaf("u.max_vcpus.max");
        this.createdomain = abi.constant("XEN_DOMCTL_createdomain");
        this.destroydomain = abi.constant("XEN_DOMCTL_destroydomain");
        this.pausedomain = abi.constant("XEN_DOMCTL_pausedomain");
        this.unpausedomain = abi.constant("XEN_DOMCTL_unpausedomain");
        this.getdomaininfo = abi.constant("XEN_DOMCTL_getdomaininfo");
        this.maxMem = abi.constant("XEN_DOMCTL_max_mem");
        this.maxVcpus = abi.constant("XEN_DOMCTL_max_vcpus");
        this.gethvmcontext = abi.constant("XEN_DOMCTL_gethvmcontext");
        this.sethvmcontext = abi.constant("XEN_DOMCTL_sethvmcontext");
        this.gethvmcontextPartial = abi.constant("XEN_DOMCTL_gethvmcontext_partial");
        this.vmEventOp = abi.constant("XEN_DOMCTL_vm_event_op");
        this.monitorOp = abi.constant("XEN_DOMCTL_monitor_op");
        this.getpageframeinfo3 = abi.constant("XEN_DOMCTL_getpageframeinfo3");
        this.domidInvalid = abi.constant("DOMID_INVALID");
    }

    int size() {
        return size;
    }

    Leaf cmdLeaf() {
        return cmdLeaf;
    }

    Leaf domainLeaf() {
        return domainLeaf;
    }

    long call(GuestMemory mem, long address) {
        Request req = new Request(mem.copyFromGuest(address, size));
        if (versionLeaf.read(req.op, 0) != interfaceVersion) {
            return -Errno.EACCES;
        }
        long cmd = cmdLeaf.read(req.op, 0);
        SimDomain d = null;
        if (cmd != createdomain) {
            d = domains.byId(domainLeaf.read(req.op, 0));
            // do_domctl: vm_event_op for DOMID_INVALID runs without a domain (GET_VERSION).
            boolean noDomain = cmd == vmEventOp && domainLeaf.read(req.op, 0) == domidInvalid;
            if (d == null && !noDomain && (cmd != getdomaininfo || getdomaininfoExact)) {
                return -Errno.ESRCH;
            }
        }
        long rc;
        try {
            rc = dispatch(mem, req, cmd, d);
        } catch (XenError e) {
            rc = -e.errno();
        }
        if (req.copyback) {
            try {
                mem.copyToGuest(address, req.op);
            } catch (XenError e) {
                rc = -Errno.EFAULT;
            }
        }
        return rc;
    }

    private long dispatch(GuestMemory mem, Request req, long cmd, SimDomain d) {
        SimDomain self = domains.caller();
        if (cmd == createdomain) {
            // The id is chosen (EEXIST, and the rover moves) before domain_create checks the config.
            int domid = domains.allocate(domainLeaf.read(req.op, 0));
            DomainParams config = createDomain.check(req.op);
            lifecycle.create(domid, config);
            domainLeaf.write(req.op, 0, domid);
            req.copyback = true;
        } else if (cmd == destroydomain) {
            lifecycle.kill(d);
        } else if (cmd == pausedomain) {
            XenError.failIf(d == self, Errno.EINVAL);
            lifecycle.pauseByController(d);
        } else if (cmd == unpausedomain) {
            lifecycle.unpauseByController(d);
        } else if (cmd == getdomaininfo) {
            getDomainInfo(req, d);
        } else if (cmd == maxMem) {
            // "We removed a check that new_max >= current tot_pages": max_pages is an unsigned int.
            d.maxPages = Math.min(maxMemKb.read(req.op, 0) >>> 2, 0xffff_ffffL);
        } else if (cmd == maxVcpus) {
            // "max_vcpus set up in createdomain": only the same number is accepted.
            XenError.failIf(d == self || maxVcpusMax.read(req.op, 0) != d.maxVcpus, Errno.EINVAL);
            lifecycle.createVcpus(d, d.maxVcpus);
        } else if (cmd == gethvmcontext) {
            getHvmContext(mem, req, d);
        } else if (cmd == sethvmcontext) {
            XenError.failIf(d == self || !d.hvm, Errno.EINVAL);
            long length = hvmSize.read(req.op, 0);
            XenError.failIf(length > MAX_CONTEXT, Errno.ENOMEM); // xmalloc_bytes(size) failing
            byte[] stream = mem.copyFromGuest(hvmBuffer.read(req.op, 0), (int) length);
            hvm.load(d, stream);
        } else if (cmd == gethvmcontextPartial) {
            getHvmContextPartial(mem, req, d);
        } else if (cmd == vmEventOp) {
            monitor.vmEventOp(req.op, d);
            req.copyback = true; // on success only: a failure throws past this
        } else if (cmd == monitorOp) {
            monitor.monitorOp(req.op, d);
            req.copyback = true;
        } else if (cmd == getpageframeinfo3) {
            monitor.pageFrameInfo(mem, req.op, d);
        } else {
            return -Errno.ENOSYS;
        }
        return 0;
    }

    /**
     * Up to 4.17 a missing id means "the first domain at or above it" (EINVAL
     * for a reserved id, ESRCH past the last domain), and {@code domain} is
     * rewritten to the id found; from 4.18 the lookup above was exact.
     */
    private void getDomainInfo(Request req, SimDomain d) {
        SimDomain found = d;
        if (found == null) {
            long requested = domainLeaf.read(req.op, 0);
            XenError.failIf(requested >= domains.firstReserved(), Errno.EINVAL);
            found = domains.firstAtLeast((int) requested);
            XenError.failIf(found == null, Errno.ESRCH);
        }
        byte[] info = domainInfo.encode(found);
        System.arraycopy(info, 0, req.op, getdomaininfoOffset, info.length);
        domainLeaf.write(req.op, 0, found.domid);
        req.copyback = true;
    }

    /**
     * NULL buffer: the size {@code hvm_save_size} demands. A smaller
     * {@code size}: ENOSPC. Otherwise the stream and its real length. The
     * struct is copied back in every case, errors included.
     */
    private void getHvmContext(GuestMemory mem, Request req, SimDomain d) {
        req.copyback = true;
        XenError.failIf(d == domains.caller() || !d.hvm, Errno.EINVAL);
        long needed = hvm.saveSize(d);
        long buffer = hvmBuffer.read(req.op, 0);
        if (buffer == 0) {
            hvmSize.write(req.op, 0, needed);
            return;
        }
        XenError.failIf(hvmSize.read(req.op, 0) < needed, Errno.ENOSPC);
        byte[] stream;
        try {
            stream = hvm.save(d, host);
        } catch (XenError e) {
            // hvm_save failed before writing anything: size 0, nothing copied.
            hvmSize.write(req.op, 0, 0);
            throw e;
        }
        hvmSize.write(req.op, 0, stream.length);
        mem.copyToGuest(buffer, stream);
    }

    /** hvm_save_one: the record's body; NULL buffer asks its length; short buffer ENOBUFS; copy-back on success. */
    private void getHvmContextPartial(GuestMemory mem, Request req, SimDomain d) {
        XenError.failIf(d == domains.caller() || !d.hvm, Errno.EINVAL);
        byte[] body = hvm.saveOne(d, partialType.read(req.op, 0), partialInstance.read(req.op, 0));
        long buffer = partialBuffer.read(req.op, 0);
        if (buffer != 0) {
            XenError.failIf(partialBufsz.read(req.op, 0) < body.length, Errno.ENOBUFS);
            mem.copyToGuest(buffer, body);
        }
        partialBufsz.write(req.op, 0, body.length);
        req.copyback = true;
    }
}
