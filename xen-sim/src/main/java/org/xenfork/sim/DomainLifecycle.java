package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.privcmd.Errno;

/**
 * Creating, pausing and destroying domains as xen/common/domain.c does:
 * {@code domain_create}, {@code domain_pause_by_systemcontroller},
 * {@code domain_unpause_by_systemcontroller}, {@code domain_kill} with
 * {@code evtchn_destroy} and the fork part of {@code domain_relinquish_resources}.
 */
final class DomainLifecycle {
    /** _domain_pause_by_systemcontroller: "Limit the toolstack pause count to an arbitrary 255". */
    private static final int MAX_CONTROLLER_PAUSES = 255;
    /** Where the simulator numbers shared_info frames of new domains from (any plausible machine frame). */
    private static final long FIRST_SHARED_INFO_FRAME = 0x8_3a00L;

    private final Object lock;
    private final DomainTable table;
    private final HvmSaveRestore hvm;
    private final Host host;
    private final EventChannels eventChannels;
    private final long cdfHvm;
    private final long cdfHap;
    private final long cdfIommu;

    DomainLifecycle(Object lock, Abi abi, DomainTable table, HvmSaveRestore hvm, Host host, EventChannels eventChannels) {
        this.lock = lock;
        this.table = table;
        this.hvm = hvm;
        this.host = host;
        this.eventChannels = eventChannels;
        this.cdfHvm = abi.constant("XEN_DOMCTL_CDF_hvm");
        this.cdfHap = abi.constant("XEN_DOMCTL_CDF_hap");
        this.cdfIommu = abi.constant("XEN_DOMCTL_CDF_iommu");
    }

    /**
     * domain_create after its checks: no vCPUs yet (XEN_DOMCTL_max_vcpus makes
     * them), no memory, and paused by the controller ({@code
     * controller_pause_count = 1}, one {@code pause_count} with it).
     */
    SimDomain create(int domid, DomainParams c) {
        boolean isHvm = (c.cdfFlags() & cdfHvm) != 0;
        SimDomain d = new SimDomain(lock, domid, c.handle(), c.cdfFlags(), isHvm,
                isHvm && (c.cdfFlags() & cdfHap) != 0, (c.cdfFlags() & cdfIommu) != 0, c.ssidref(),
                c.emulationFlags(), c.maxVcpus(), FIRST_SHARED_INFO_FRAME + domid);
        d.controllerPauseCount = 1;
        d.pauseCount = 1;
        d.tscKhz = host.cpuKhz();
        table.add(d);
        return d;
    }

    /** vcpu_create for vCPUs {@code allocated .. count-1}: they start down. */
    void createVcpus(SimDomain d, int count) {
        for (int v = d.allocatedVcpus; v < count; v++) {
            if (d.hvm) {
                hvm.createVcpu(d, v);
            }
        }
        d.allocatedVcpus = Math.max(d.allocatedVcpus, count);
    }

    /** {@code domain_pause_by_systemcontroller}: EOVERFLOW past 255 pauses. */
    void pauseByController(SimDomain d) {
        XenError.failIf(d.controllerPauseCount + 1 > MAX_CONTROLLER_PAUSES, Errno.EOVERFLOW);
        d.controllerPauseCount++;
        d.pauseCount++;
    }

    /** {@code domain_unpause_by_systemcontroller}: EINVAL if the controller holds no pause. */
    void unpauseByController(SimDomain d) {
        XenError.failIf(d.controllerPauseCount - 1 < 0, Errno.EINVAL);
        d.controllerPauseCount--;
        d.pauseCount--;
    }

    /** {@code domain_pause}: Xen's own pause, invisible in XEN_DOMINF_paused. */
    void pause(SimDomain d) {
        d.pauseCount++;
    }

    void unpause(SimDomain d) {
        d.pauseCount--;
    }

    /**
     * {@code domain_kill}: EINVAL for the caller itself, nothing to do for a
     * dead domain. Its event channels are closed (ports of other domains joined
     * to them left unbound). Relinquishing resources frees the memory and, for a fork,
     * unpauses the parent and drops the reference the fork held on it. The
     * domain then drops its initial reference and leaves the list unless forks
     * still hold it.
     */
    void kill(SimDomain d) {
        XenError.failIf(d == table.caller(), Errno.EINVAL);
        if (!d.isAlive()) {
            return;
        }
        pause(d);
        if (d.parent != null) {
            SimDomain parent = d.parent;
            d.parent = null;
            unpause(parent);
            dropForkReference(parent);
        }
        d.p2m.clear();
        d.dying = SimDomain.Dying.DEAD;
        eventChannels.destroy(d);
        removeIfUnreferenced(d);
    }

    /** {@code get_domain} by a new fork. */
    void takeForkReference(SimDomain parent) {
        parent.forkReferences++;
    }

    /** {@code put_domain} by a fork: the last reference to a dead domain frees it. */
    void dropForkReference(SimDomain parent) {
        parent.forkReferences--;
        removeIfUnreferenced(parent);
    }

    private void removeIfUnreferenced(SimDomain d) {
        if (!d.isAlive() && d.forkReferences == 0) {
            table.remove(d);
        }
    }
}
