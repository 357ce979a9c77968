package org.xenfork.sim;

import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.UUID;

/**
 * One domain of a {@link SimXen}, as a live read-only view for tests and the
 * CLI's sim backend; the hypervisor changes it only through hypercalls and the
 * few {@link SimXen} methods that stand for things a guest or Xen's boot does.
 *
 * <p>Field by field this is the part of Xen's {@code struct domain} the
 * simulated hypercalls read or write: {@code controller_pause_count} and
 * {@code pause_count}, {@code is_dying}, {@code max_vcpus} and the vCPUs
 * (allocated, online/down), {@code max_pages} and the p2m, the HVM save
 * records, and the memory-sharing fork link ({@code d->parent}).
 */
public final class SimDomain {

    /** Xen's {@code is_dying}; the simulator runs domain_kill to completion, so DOMDYING_dying is never seen. */
    enum Dying { ALIVE, DEAD }

    /** An HVM save record's place: its typecode, then its instance (the vCPU for per-vCPU records). */
    record RecordKey(int typecode, int instance) implements Comparable<RecordKey> {
        @Override
        public int compareTo(RecordKey o) {
            return typecode != o.typecode ? Integer.compare(typecode, o.typecode)
                    : Integer.compare(instance, o.instance);
        }
    }

    private final Object lock;
    final int domid;
    final byte[] handle;
    final int cdfFlags;
    final boolean hvm;
    final boolean hap;
    final boolean iommu;
    final int ssidref;
    final int emulationFlags;
    final int maxVcpus;
    /** {@code getdomaininfo.shared_info_frame}: an HVM fork maps its copy at the parent's gfn. */
    long sharedInfoFrame;

    String name;
    /** vCPUs 0..allocatedVcpus-1 exist ({@code d->vcpu[i] != NULL}). */
    int allocatedVcpus;
    /** vCPUs without {@code _VPF_down}. */
    final BitSet onlineVcpus = new BitSet();
    /** Every online vCPU has blocked itself (SCHEDOP_block): the guest is idle. */
    boolean idle;
    int controllerPauseCount;
    /** Xen's {@code pause_count}: every pause, the controller's included; the domain runs when it is 0. */
    int pauseCount;
    Dying dying = Dying.ALIVE;
    long maxPages;
    final P2m p2m = new P2m();
    long cpuTimeNs;
    /** The guest TSC frequency ({@code d->arch.tsc_khz}), written into HVM save headers. */
    int tscKhz;
    /** HVM save records (HEADER and END excluded), in the order hvm_save writes them. */
    final SortedMap<RecordKey, byte[]> hvmRecords = new TreeMap<>();
    /** {@code d->parent}: the domain this one is a memory-sharing fork of. */
    SimDomain parent;
    /** References held on this domain by its forks ({@code get_domain} in fork()). */
    int forkReferences;
    boolean sharingEnabled;
    boolean blockInterrupts;
    /** {@code HVM_PARAM_MONITOR_RING_PFN}: 0 (none) for PV, a special page for HVM/PVH (see {@link VmEventMonitor}). */
    long monitorRingGfn;
    /** {@code d->vm_event_monitor}: the enabled monitor ring, or null. */
    VmEventMonitor.Ring monitorRing;
    /** The monitor events switched on ({@code XEN_DOMCTL_MONITOR_EVENT_*} numbers as bits). */
    int monitorEvents;
    /** {@code monitor.debug_exception_sync}: DEBUG_EXCEPTION requests pause their vCPU. */
    boolean debugExceptionSync;
    /** vCPUs paused by a synchronous vm_event ({@code vm_event_vcpu_pause}) until a response unpauses them. */
    final java.util.BitSet vmEventPaused = new java.util.BitSet();
    /** vCPUs with single-stepping on ({@code VM_EVENT_FLAG_TOGGLE_SINGLESTEP}). */
    final java.util.BitSet singlestep = new java.util.BitSet();
    /** Per vCPU, an event {@code XEN_DMOP_inject_event} queued for injection (vector, type, insn_len), or absent. */
    final java.util.Map<Integer, long[]> pendingInjection = new java.util.HashMap<>();

    SimDomain(Object lock, int domid, byte[] handle, int cdfFlags, boolean hvm, boolean hap, boolean iommu,
              int ssidref, int emulationFlags, int maxVcpus, long sharedInfoFrame) {
        this.lock = lock;
        this.domid = domid;
        this.handle = handle.clone();
        this.cdfFlags = cdfFlags;
        this.hvm = hvm;
        this.hap = hap;
        this.iommu = iommu;
        this.ssidref = ssidref;
        this.emulationFlags = emulationFlags;
        this.maxVcpus = maxVcpus;
        this.sharedInfoFrame = sharedInfoFrame;
    }

    boolean isAlive() {
        return dying == Dying.ALIVE;
    }

    /** Whether its vCPUs may run: alive and no pause of any kind. */
    boolean isRunnable() {
        return isAlive() && pauseCount == 0;
    }

    /** Whether at least one online vCPU is on a pCPU (not blocked, not paused). */
    boolean isRunning() {
        return isRunnable() && !idle && !onlineVcpus.isEmpty();
    }

    public int domid() {
        return domid;
    }

    /** The name the toolstack gave it (the simulator has no xenstore; see {@link SimXen#rename}). */
    public Optional<String> name() {
        synchronized (lock) {
            return Optional.ofNullable(name);
        }
    }

    /** {@code xen_domain_handle_t} read as a UUID, as {@code xl list -l} prints it. */
    public UUID handle() {
        ByteBuffer b = ByteBuffer.wrap(handle);
        return new UUID(b.getLong(), b.getLong());
    }

    public boolean isHvm() {
        return hvm;
    }

    public boolean hasHap() {
        return hap;
    }

    public boolean hasIommu() {
        return iommu;
    }

    /** {@code XEN_X86_EMU_*} bits it was created with. */
    public int emulationFlags() {
        return emulationFlags;
    }

    public int maxVcpus() {
        return maxVcpus;
    }

    public int onlineVcpus() {
        synchronized (lock) {
            return onlineVcpus.cardinality();
        }
    }

    /** Pauses taken by the toolstack (XEN_DOMCTL_pausedomain, and the one every new domain starts with). */
    public int controllerPauseCount() {
        synchronized (lock) {
            return controllerPauseCount;
        }
    }

    /** All pauses, Xen's own included (a fork parent is paused by Xen while it has forks). */
    public int pauseCount() {
        synchronized (lock) {
            return pauseCount;
        }
    }

    /** Whether {@code XEN_DOMINF_paused} is set: paused by the controller. */
    public boolean isPaused() {
        return controllerPauseCount() > 0;
    }

    /** Destroyed but still referenced (a fork parent outlives its destruction while forks hold it). */
    public boolean isDying() {
        synchronized (lock) {
            return !isAlive();
        }
    }

    public long maxPages() {
        synchronized (lock) {
            return maxPages;
        }
    }

    /** Private pages ({@code tot_pages}). */
    public long totPages() {
        synchronized (lock) {
            return p2m.totPages();
        }
    }

    /** Shared entries ({@code shr_pages}). */
    public long shrPages() {
        synchronized (lock) {
            return p2m.shrPages();
        }
    }

    /** Pages Xen's pager has taken out of memory ({@code paged_pages}). */
    public long pagedPages() {
        synchronized (lock) {
            return p2m.pagedPages();
        }
    }

    public long cpuTimeNs() {
        synchronized (lock) {
            return cpuTimeNs;
        }
    }

    /** The domain this one is a fork of, while the fork exists. */
    public OptionalInt parent() {
        synchronized (lock) {
            return parent == null ? OptionalInt.empty() : OptionalInt.of(parent.domid);
        }
    }

    public boolean isFork() {
        return parent().isPresent();
    }

    /** Memory sharing is enabled on it (it took part in a fork). */
    public boolean sharingEnabled() {
        synchronized (lock) {
            return sharingEnabled;
        }
    }

    /** Forked with {@code XENMEM_FORK_BLOCK_INTERRUPTS}. */
    public boolean blockInterrupts() {
        synchronized (lock) {
            return blockInterrupts;
        }
    }

    @Override
    public String toString() {
        synchronized (lock) {
            return "d" + domid + (name != null ? " (" + name + ")" : "") + (hvm ? " hvm" : " pv")
                    + " pause " + controllerPauseCount + "/" + pauseCount + (isAlive() ? "" : " dying")
                    + (parent != null ? " fork of d" + parent.domid : "");
        }
    }
}
