package org.xenfork.vmi;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.xenfork.privcmd.Evtchn;
import org.xenfork.privcmd.ForeignMapping;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.VmEventHypercalls;
import org.xenfork.privcmd.VmEventHypercalls.MonitorEvent;
import org.xenfork.privcmd.XenException;

/**
 * A vm_event monitor of one domain: the ring set up as libxc's {@code xc_monitor_enable} does, its
 * event channel bound as xen-access binds it, the events switched on, requests taken and answered,
 * and everything undone by {@link #close()}.
 *
 * <pre>{@code
 * try (VmEventHypercalls vm = VmEventHypercalls.open(xen);
 *      Monitor monitor = Monitor.enable(xen, vm, new ForeignMemory(privcmd), domid)) {
 *     monitor.monitor(MonitorEvent.SOFTWARE_BREAKPOINT, true);
 *     Optional<VmEventRequest> req = monitor.next(Duration.ofSeconds(5));
 *     req.ifPresent(r -> monitor.respond(VmEventResponse.resume(r)));
 * }
 * }</pre>
 *
 * <p>Signalling, as libxc's users (xen-access, KF/x) do it: the port Xen allocates for the ring
 * ({@code u.enable.port}) is bound interdomain through {@code /dev/xen/evtchn} ({@link Evtchn}, opened
 * on the Hypervisor's own seam). Xen notifies it after putting a request on the ring
 * ({@code vm_event_put_request} → {@code notify_via_xen_event_channel}); {@link #next} waits on it
 * ({@code poll(2)}, no polling of the ring), reads the pending port and unmasks it before it looks at
 * the ring again, so that a notification arriving between that look and the next wait is delivered
 * at once instead of lost. {@link #respond} notifies Xen's end ({@code IOCTL_EVTCHN_NOTIFY}), and
 * Xen's {@code monitor_notification} takes the responses ({@code vm_event_resume}) before the call
 * returns. {@link #close()} and {@link #resumeWaitingVcpus} use the domctl {@code XEN_VM_EVENT_RESUME}
 * instead (see there). Not thread-safe, but for {@link #wakeUp()}: one thread takes and answers.
 *
 * <p>On real Xen (the real-Xen tier, QEMU's emulated SVM) ICEBP breakpoints are checked; int3
 * breakpoints are not, since that CPU does not intercept INT3 ({@link Breakpoints.Instruction}):
 * docs/VMI.md, "Status on real Xen".
 */
public final class Monitor implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(Monitor.class.getName());
    /** Waits longer than this (about 146 years) are waits without end, as {@link Evtchn#await} has them. */
    private static final long LONGEST_WAIT_NANOS = Long.MAX_VALUE / 2;

    private final Hypervisor xen;
    private final VmEventHypercalls vm;
    private final int domid;
    private final long ringGfn;
    private final ForeignMapping ringPage;
    private final MonitorRing ring;
    private final int xenPort;
    /** The handle the ring's event channel is bound through, and dom0's end of it. */
    private final Evtchn evtchn;
    private final int localPort;
    private final int capabilities;
    private final Set<MonitorEvent> enabled = EnumSet.noneOf(MonitorEvent.class);
    /** Requests taken and not answered yet: their vCPUs wait, and close answers them. */
    private final List<VmEventRequest> unanswered = new ArrayList<>();
    private boolean closed;

    private Monitor(Hypervisor xen, VmEventHypercalls vm, int domid, long ringGfn, ForeignMapping ringPage,
                    MonitorRing ring, int xenPort, Evtchn evtchn, int localPort, int capabilities) {
        this.xen = xen;
        this.vm = vm;
        this.domid = domid;
        this.ringGfn = ringGfn;
        this.ringPage = ringPage;
        this.ring = ring;
        this.xenPort = xenPort;
        this.evtchn = evtchn;
        this.localPort = localPort;
        this.capabilities = capabilities;
    }

    /**
     * {@code xc_monitor_enable}: pause the domain, read {@code HVM_PARAM_MONITOR_RING_PFN}, populate
     * the page if {@code XEN_DOMCTL_getpageframeinfo3} finds none, map it writable, enable the ring
     * ({@code XEN_DOMCTL_vm_event_op}), initialise the shared ring, take the page out of the guest's
     * physmap ({@code XENMEM_decrease_reservation}: a failure is only logged, as libxc does), open
     * {@code /dev/xen/evtchn} on the seam of {@code xen}'s privcmd ({@link VmEventHypercalls#openEvtchn})
     * and bind Xen's port interdomain ({@code IOCTL_EVTCHN_BIND_INTERDOMAIN}), and undo the pause. On
     * failure nothing stays bound, enabled or mapped, and the pause is undone.
     *
     * @throws MonitorException naming the step and the errno (EBUSY: another monitor is attached)
     * @throws org.xenfork.privcmd.XenEnvironmentException when {@code /dev/xen/evtchn} cannot be opened
     */
    public static Monitor enable(Hypervisor xen, VmEventHypercalls vm, ForeignMemory foreign, int domid) {
        if (domid <= 0 || domid >= org.xenfork.privcmd.Domid.FIRST_RESERVED) {
            throw new IllegalArgumentException("domain " + domid + ": a monitor watches a domain 1 to "
                    + (org.xenfork.privcmd.Domid.FIRST_RESERVED - 1));
        }
        int caps = call("XEN_DOMCTL_monitor_op(GET_CAPABILITIES)", domid, () -> vm.monitorCapabilities(domid));
        call("XEN_DOMCTL_pausedomain", domid, () -> {
            xen.pauseDomain(domid);
            return null;
        });
        ForeignMapping page = null;
        boolean ringEnabled = false;
        Evtchn evtchn = null;
        try {
            int param = (int) vm.abi().constant("HVM_PARAM_MONITOR_RING_PFN");
            long gfn = call("HVMOP_get_param(HVM_PARAM_MONITOR_RING_PFN)", domid, () -> vm.hvmParam(domid, param));
            if (gfn == 0) {
                throw new MonitorException("d" + domid + " has no monitor ring page (HVM_PARAM_MONITOR_RING_PFN is 0): "
                        + "only HVM and PVH domains have one");
            }
            long xtab = vm.abi().constant("XEN_DOMCTL_PFINFO_XTAB");
            long type;
            try {
                type = vm.pageType(domid, gfn);
            } catch (XenException e) {
                type = xtab; // xc_vm_event_enable populates when the query fails too
            }
            if (type == xtab) {
                call("XENMEM_populate_physmap", domid, () -> {
                    vm.populatePhysmap(domid, gfn);
                    return null;
                });
            }
            try {
                page = foreign.map(domid, Linux.PROT_READ | Linux.PROT_WRITE, gfn);
            } catch (NativeException e) {
                throw new MonitorException("mapping d" + domid + "'s ring page (gfn 0x" + Long.toHexString(gfn) + "): "
                        + e.getMessage(), e);
            }
            if (page.firstUnmappedPage() >= 0) {
                throw new MonitorException("mapping d" + domid + "'s ring page (gfn 0x" + Long.toHexString(gfn)
                        + "): " + ForeignMapping.describeFrameError(page.frameError(0)));
            }
            int port = call("XEN_DOMCTL_vm_event_op(XEN_VM_EVENT_ENABLE)", domid, () -> vm.monitorEnable(domid));
            ringEnabled = true;
            MonitorRing ring = new MonitorRing(page, vm.abi());
            ring.initShared();
            try {
                vm.decreaseReservation(domid, gfn);
            } catch (XenException e) {
                LOG.log(System.Logger.Level.WARNING, "d{0}: the ring page stays in the guest''s physmap: {1}", domid,
                        e.getMessage());
            }
            evtchn = vm.openEvtchn();
            Evtchn handle = evtchn;
            int localPort = call("IOCTL_EVTCHN_BIND_INTERDOMAIN(remote port " + port + ")", domid,
                    () -> handle.bindInterdomain(domid, port));
            Monitor m = new Monitor(xen, vm, domid, gfn, page, ring, port, evtchn, localPort, caps);
            page = null;
            ringEnabled = false;
            evtchn = null;
            return m;
        } finally {
            if (evtchn != null) {
                evtchn.close(); // closing the handle unbinds whatever it bound
            }
            if (ringEnabled) {
                try {
                    vm.monitorDisable(domid);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "d{0}: disabling the ring after a failed enable: {1}", domid,
                            e.getMessage());
                }
            }
            if (page != null) {
                page.close();
            }
            try {
                xen.unpauseDomain(domid);
            } catch (XenException e) {
                LOG.log(System.Logger.Level.WARNING, "d{0}: undoing the pause: {1}", domid, e.getMessage());
            }
        }
    }

    private interface Call<T> {
        T run();
    }

    private static <T> T call(String step, int domid, Call<T> c) {
        try {
            return c.run();
        } catch (XenException e) {
            throw new MonitorException("d" + domid + ": " + step + " failed: " + e.getMessage(), e);
        }
    }

    public int domid() {
        return domid;
    }

    /** Xen's port of the ring's event channel ({@code u.enable.port}). */
    public int xenPort() {
        return xenPort;
    }

    /** The ring's gfn ({@code HVM_PARAM_MONITOR_RING_PFN}). */
    public long ringGfn() {
        return ringGfn;
    }

    /** Whether the hypervisor offers {@code event} for this domain (its GET_CAPABILITIES). */
    public boolean offers(MonitorEvent event) {
        return vm.offers(capabilities, event);
    }

    /** Whether responses here can reset a fork (Xen 4.17 and later). */
    public boolean canResetFork() {
        return ring.hasForkResetFlags();
    }

    /**
     * {@code XEN_DOMCTL_monitor_op} ENABLE or DISABLE of {@code event}; an event the hypervisor does
     * not offer is refused before asking it. {@code DEBUG_EXCEPTION} is switched on synchronous (the
     * vCPU waits for the answer, as a breakpoint's must).
     */
    public void monitor(MonitorEvent event, boolean on) {
        checkOpen();
        if (on && !offers(event)) {
            throw new MonitorException("the hypervisor does not offer " + event.xenName() + " for d" + domid
                    + " (XEN_DOMCTL_MONITOR_OP_GET_CAPABILITIES)");
        }
        call("XEN_DOMCTL_monitor_op(" + (on ? "ENABLE, " : "DISABLE, ") + event.xenName() + ")", domid, () -> {
            switchEvent(event, on);
            return null;
        });
        if (on) {
            enabled.add(event);
        } else {
            enabled.remove(event);
        }
    }

    private void switchEvent(MonitorEvent event, boolean on) {
        if (event == MonitorEvent.DEBUG_EXCEPTION) {
            vm.monitorDebugException(domid, on, on);
        } else {
            vm.monitorEvent(domid, event, on);
        }
    }

    /**
     * The next request, waiting up to {@code timeout} (zero: only what is there) on the ring's event
     * channel: the ring is looked at, and while it is empty the channel is waited on
     * ({@link Evtchn#await}), its pending port read and unmasked, and the ring looked at again. Empty
     * after the timeout, or at once after {@link #wakeUp()}.
     *
     * @throws InterruptedException if the thread is interrupted while waiting (its flag cleared)
     * @throws MonitorException if reading or unmasking the port fails (the errno named)
     */
    public Optional<VmEventRequest> next(Duration timeout) throws InterruptedException {
        checkOpen();
        if (timeout.isNegative()) {
            throw new IllegalArgumentException("a negative timeout (" + timeout + ") for the next request of d" + domid);
        }
        long budget = timeout.compareTo(Duration.ofNanos(LONGEST_WAIT_NANOS)) > 0 ? LONGEST_WAIT_NANOS : timeout.toNanos();
        long deadline = System.nanoTime() + budget;
        while (!ring.hasRequest()) {
            long left = deadline - System.nanoTime();
            if (left <= 0 || !evtchn.await(Duration.ofNanos(left))) {
                return ring.hasRequest() ? Optional.of(take()) : Optional.empty(); // timed out, or woken up
            }
            // Unmasked before the ring is looked at again: a notification Xen sends from now on is
            // delivered (and ends the next wait at once), one sent while the port was masked is
            // delivered by the unmask itself. Unmasked after the look, it could be missed for good.
            for (int p : call("read(/dev/xen/evtchn)", domid, evtchn::pending)) {
                if (p == localPort) {
                    call("write(/dev/xen/evtchn) to unmask port " + p, domid, () -> {
                        evtchn.unmask(p);
                        return null;
                    });
                }
            }
        }
        return Optional.of(take());
    }

    private VmEventRequest take() {
        VmEventRequest r = ring.take();
        unanswered.add(r);
        return r;
    }

    /**
     * Makes a waiting (or the next) {@link #next} return within {@link Evtchn#POLL_SLICE}, with what
     * is on the ring or empty. Safe from any thread, e.g. a {@code StopRequest}'s wake-up for Ctrl-C.
     */
    public void wakeUp() {
        evtchn.wakeUp();
    }

    /**
     * Puts {@code response} on the ring and notifies Xen's port ({@code IOCTL_EVTCHN_NOTIFY}, libxc's
     * {@code xenevtchn_notify}): Xen's {@code monitor_notification} takes the responses
     * ({@code vm_event_resume}) before the call returns.
     */
    public void respond(VmEventResponse response) {
        checkOpen();
        ring.put(response);
        unanswered.remove(response.request());
        call("IOCTL_EVTCHN_NOTIFY(port " + localPort + ")", domid, () -> {
            evtchn.notifyRemote(localPort);
            return null;
        });
    }

    /**
     * Resumes every vCPU from 0 to {@code vcpus - 1} that waits for an answer to a request this
     * monitor never saw (a monitor that died left them paused: disabling a ring does not unpause
     * them, {@code vm_event_disable}); Xen ignores the answer for a vCPU that waits for none
     * ({@code vm_event_resume} checks its {@code vm_event_pause_count}). Sent a ring's worth at a time.
     *
     * <p>Each batch is handed over with the domctl {@code XEN_VM_EVENT_RESUME}, not a notification:
     * the next batch reuses the slots, so Xen must have taken this one, and only the domctl says so
     * (its errno, e.g. ENODEV without a ring); Linux drops the result of the notification's
     * {@code EVTCHNOP_send} ({@code notify_remote_via_evtchn}), so a lost batch would go unseen and
     * leave vCPUs paused, in the very cleanup that is there to unpause them.
     */
    public void resumeWaitingVcpus(int vcpus) {
        checkOpen();
        for (int v = 0; v < vcpus; v++) {
            ring.put(VmEventResponse.resume(ring.pausedVcpu(v)));
            if ((v + 1) % ring.slots() == 0 || v == vcpus - 1) {
                call("XEN_DOMCTL_vm_event_op(XEN_VM_EVENT_RESUME)", domid, () -> {
                    vm.monitorResume(domid);
                    return null;
                });
            }
        }
    }

    /**
     * {@code XEN_DMOP_inject_event}: the exception {@code request} reported reaches the guest after
     * all, as xen-access re-injects what is not its own: a software breakpoint's #BP (vector 3), a
     * debug exception's #DB (vector 1, with its pending DR6 bits), each with the type and length
     * Xen reported. Answer the request after this, without moving {@code rip}.
     *
     * @throws IllegalArgumentException for a request of another reason
     */
    public void reinject(VmEventRequest request) {
        int vector = switch (request.reasonName()) {
            case "software_breakpoint" -> 3;
            case "debug_exception" -> 1;
            default -> throw new IllegalArgumentException("a " + request.reasonName() + " request carries no exception "
                    + "to re-inject");
        };
        call("XEN_DMOP_inject_event", domid, () -> {
            vm.injectEvent(domid, request.vcpu(), vector, request.trapType(), request.insnLength(), request.pendingDbg());
            return null;
        });
    }

    /**
     * Undoes the monitor, every step attempted even if one fails: requests still on the ring are
     * answered (their vCPUs resume), the events switched on here are switched off, the ring is
     * disabled ({@code XEN_VM_EVENT_DISABLE}), dom0's end of its event channel unbound
     * ({@code IOCTL_EVTCHN_UNBIND}) and the handle closed, the page unmapped. Requests taken with {@link #next} and
     * not answered are answered first. The first failure is thrown at the
     * end with the others suppressed.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        List<RuntimeException> failures = new ArrayList<>();
        attempt(failures, () -> {
            for (VmEventRequest r : unanswered) {
                ring.put(VmEventResponse.resume(r));
            }
            unanswered.clear();
            while (ring.hasRequest()) {
                ring.put(VmEventResponse.resume(ring.take()));
            }
            // Always, and by the domctl rather than a notification: a response whose notification failed
            // is on the ring too, and its vCPU waits for Xen to take it; the domctl reports whether Xen
            // did (a notification's EVTCHNOP_send result is dropped by Linux), and it works when the
            // event channel handle is what failed.
            vm.monitorResume(domid);
        });
        for (MonitorEvent e : List.copyOf(enabled)) {
            attempt(failures, () -> switchEvent(e, false));
        }
        enabled.clear();
        attempt(failures, () -> vm.monitorDisable(domid)); // Xen frees its port: ours is left unbound
        attempt(failures, () -> evtchn.unbind(localPort));
        attempt(failures, evtchn::close);
        attempt(failures, ringPage::close);
        if (!failures.isEmpty()) {
            RuntimeException first = failures.get(0);
            failures.subList(1, failures.size()).forEach(first::addSuppressed);
            throw new MonitorException("d" + domid + ": closing the monitor: " + first.getMessage()
                    + "; run: xenfork monitor --cleanup " + domid, first);
        }
    }

    private static void attempt(List<RuntimeException> failures, Runnable step) {
        try {
            step.run();
        } catch (RuntimeException e) {
            failures.add(e);
        }
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the monitor of d" + domid + " is closed");
        }
    }
}
