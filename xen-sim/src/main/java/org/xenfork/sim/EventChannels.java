package org.xenfork.sim;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntConsumer;

import org.xenfork.abi.Abi;
import org.xenfork.privcmd.Errno;

/**
 * Event channels as xen/common/event_channel.c keeps them (4.17; what is modelled here is the
 * same from 4.14 to 4.22): per domain a table of ports, port 0 reserved, each other port free,
 * unbound (allocated for one remote domain to bind) or interdomain (joined to a port of another
 * domain), with a pending and a mask bit, on which the 2-level and FIFO ABIs agree.
 *
 * <p>Two kinds of users. Xen itself, for a vm_event ring: {@link #allocUnboundXen} (
 * {@code alloc_unbound_xen_event_channel}) makes an unbound port in the monitored domain for
 * dom0 to bind, whose notification function runs when dom0 sends on its end;
 * {@link #notifyViaXen} ({@code notify_via_xen_event_channel}) notifies dom0;
 * {@link #freeXen} closes it. And dom0's Linux, below {@code /dev/xen/evtchn} ({@link EvtchnFile}):
 * EVTCHNOP bind_interdomain, close, send and unmask, and its interrupt handlers, here
 * {@link #bindUpcall upcalls} a port delivers to when it becomes pending while unmasked.
 *
 * <p>Not modelled: VIRQs, IPIs, PIRQs, EVTCHNOP_status/bind_vcpu/reset/set_priority, FIFO
 * queues and priorities, XSM, a guest sending on or closing Xen's own port (EINVAL in Xen: no
 * guest kernel runs here), {@code max_evtchn_port} from createdomain (a guest has the 2-level
 * ABI's 4096 ports; dom0 2^17 with Linux's FIFO ABI, 4096 without). dom0's kernel issues its
 * EVTCHNOP calls straight into this class: they are not logged in {@link SimXen#calls()} (the
 * log of privcmd's hypercalls) and faults cannot be injected into them.
 *
 * <p>Every method runs under the {@link SimXen}'s lock.
 */
final class EventChannels {
    /** max_evtchns for the 2-level ABI on x86-64: BITS_PER_EVTCHN_WORD (64) squared (xen/common/event_channel.h). */
    static final int TWO_LEVEL_PORTS = 64 * 64;
    /** EVTCHN_FIFO_NR_CHANNELS, 1 &lt;&lt; EVTCHN_FIFO_LINK_BITS (public/event_channel.h): max_evtchns for FIFO. */
    static final int FIFO_PORTS = 1 << 17;
    /** Linux's EVENT_WORDS_PER_PAGE (drivers/xen/events/events_fifo.c): ports per page of its FIFO event array. */
    static final int FIFO_PORTS_PER_PAGE = 1024;

    /** One port: the parts of Xen's {@code struct evtchn} the simulator keeps. */
    private static final class Channel {
        final int port;
        SimEventChannel.State state;
        /** UNBOUND: {@code u.unbound.remote_domid}. */
        int unboundRemoteDomid = -1;
        /** INTERDOMAIN: {@code u.interdomain.remote_dom} and {@code remote_port}. */
        SimDomain remoteDomain;
        int remotePort = -1;
        boolean pending;
        boolean masked;
        /** {@code xen_consumer}: Xen's own port; the notification function, given the port. */
        IntConsumer xenConsumer;
        /** dom0's ports only: the Linux interrupt handler bound to the port, or null. */
        IntConsumer upcall;

        Channel(int port, SimEventChannel.State state) {
            this.port = port;
            this.state = state;
        }
    }

    /** A domain's ports ({@code d->evtchn}); absent ports are ECS_FREE. */
    private static final class Ports {
        final TreeMap<Integer, Channel> channels = new TreeMap<>();
        /** max_evtchns(d). */
        final int limit;

        Ports(int limit) {
            this.limit = limit;
            channels.put(0, new Channel(0, SimEventChannel.State.RESERVED)); // evtchn_init
        }
    }

    private final DomainTable table;
    private final long domidSelf;
    private final boolean dom0Fifo;
    private final Map<SimDomain, Ports> domains = new HashMap<>();
    /** Pages of dom0's FIFO event array (EVTCHNOP_expand_array), grown by Linux as it binds higher ports. */
    private int dom0EventArrayPages = 1;

    EventChannels(Abi abi, DomainTable table, boolean dom0Fifo) {
        this.table = table;
        this.domidSelf = abi.constant("DOMID_SELF");
        this.dom0Fifo = dom0Fifo;
    }

    /**
     * EVTCHNOP_alloc_unbound as domain {@code d} issues it for itself ({@code evtchn_alloc_unbound}
     * with DOMID_SELF): a new unbound port that {@code remoteDomid} may bind (DOMID_SELF: {@code d}).
     */
    int allocUnbound(SimDomain d, int remoteDomid) {
        Channel c = allocate(d);
        c.state = SimEventChannel.State.UNBOUND;
        c.unboundRemoteDomid = remoteDomid == domidSelf ? d.domid : remoteDomid;
        return c.port;
    }

    /**
     * {@code alloc_unbound_xen_event_channel(d, 0, remote_domid, fn)}: an unbound port of {@code d}
     * for {@code remoteDomid} to bind, attached to Xen: {@code notification} runs with the port
     * each time the remote end sends
     * ({@code evtchn_send}). EINVAL for a dying domain, ENOSPC when it has no free port.
     */
    int allocUnboundXen(SimDomain d, int remoteDomid, IntConsumer notification) {
        Channel c = allocate(d);
        c.state = SimEventChannel.State.UNBOUND;
        c.unboundRemoteDomid = remoteDomid;
        c.xenConsumer = notification;
        return c.port;
    }

    /**
     * {@code evtchn_bind_interdomain} for the calling domain {@code ld}: ESRCH if no domain has id
     * {@code remoteDom} ({@code rcu_lock_domain_by_any_id}, DOMID_SELF meaning {@code ld}); then a
     * local port ({@code get_free_port}: EINVAL if {@code ld} is dying, ENOSPC if it has none free);
     * then EINVAL unless {@code remotePort} is an unbound port allocated for {@code ld}. Both ends
     * become interdomain and the local port is set pending, "conservatively", for notifications the
     * remote end may have sent while it was unbound. Returns the local port.
     */
    int bindInterdomain(SimDomain ld, int remoteDom, long remotePort) {
        SimDomain rd = remoteDom == domidSelf ? ld : table.byId(remoteDom);
        XenError.failIf(rd == null, Errno.ESRCH);
        Channel lchn = allocate(ld);
        Channel rchn = remotePort > Integer.MAX_VALUE ? null : channel(rd, (int) remotePort);
        if (rchn == null || rchn.state != SimEventChannel.State.UNBOUND || rchn.unboundRemoteDomid != ld.domid) {
            ports(ld).channels.remove(lchn.port); // check_free_port: the port never left ECS_FREE
            throw new XenError(Errno.EINVAL);
        }
        lchn.state = SimEventChannel.State.INTERDOMAIN;
        lchn.remoteDomain = rd;
        lchn.remotePort = rchn.port;
        rchn.state = SimEventChannel.State.INTERDOMAIN; // u.unbound and u.interdomain share a union: no clearing
        rchn.remoteDomain = ld;
        rchn.remotePort = lchn.port;
        setPending(ld, lchn);
        return lchn.port;
    }

    /**
     * {@code evtchn_close(d, port, guest)}: EINVAL for a free or reserved port. Closing one end of
     * an interdomain channel leaves the other end unbound, allocated for {@code d} again. (Xen's
     * EINVAL for a guest closing Xen's own port needs a guest kernel, which the simulator lacks.)
     */
    void close(SimDomain d, int port) {
        Channel c = channel(d, port);
        XenError.failIf(c == null || c.state == SimEventChannel.State.RESERVED, Errno.EINVAL);
        if (c.state == SimEventChannel.State.INTERDOMAIN) {
            Channel other = channel(c.remoteDomain, c.remotePort);
            other.state = SimEventChannel.State.UNBOUND;
            other.unboundRemoteDomid = d.domid;
            other.remoteDomain = null;
            other.remotePort = -1;
        }
        ports(d).channels.remove(port); // evtchn_free: ECS_FREE, pending cleared
    }

    /**
     * {@code evtchn_send} from {@code ld}: EINVAL for a free port. Interdomain: the remote port's
     * Xen notification function runs if it has one, else the remote port is set pending.
     * Unbound: dropped silently. Reserved: EINVAL. (A guest sending on Xen's own port, EINVAL in
     * Xen, needs a guest kernel, which the simulator lacks.)
     */
    void send(SimDomain ld, int lport) {
        Channel lchn = channel(ld, lport);
        XenError.failIf(lchn == null, Errno.EINVAL);
        switch (lchn.state) {
            case INTERDOMAIN -> {
                Channel rchn = channel(lchn.remoteDomain, lchn.remotePort);
                if (rchn.xenConsumer != null) {
                    rchn.xenConsumer.accept(rchn.port);
                } else {
                    setPending(lchn.remoteDomain, rchn);
                }
            }
            case UNBOUND -> {
                // "silently drop the notification"
            }
            default -> throw new XenError(Errno.EINVAL);
        }
    }

    /**
     * {@code notify_via_xen_event_channel(d, port)}: Xen notifies the remote end of its own port
     * {@code port} of {@code d} (sets it pending); nothing while nobody has bound it.
     */
    void notifyViaXen(SimDomain d, int port) {
        Channel c = channel(d, port);
        if (c == null) {
            return; // the domain is dying and its ports are gone
        }
        if (c.xenConsumer == null) {
            throw new IllegalStateException("d" + d.domid + " port " + port + " is not one of Xen's own ports");
        }
        if (c.state == SimEventChannel.State.INTERDOMAIN) {
            setPending(c.remoteDomain, channel(c.remoteDomain, c.remotePort));
        }
    }

    /** {@code free_xen_event_channel(d, port)}: Xen closes its own port (nothing if the domain's ports are gone). */
    void freeXen(SimDomain d, int port) {
        if (channel(d, port) != null) {
            close(d, port);
        }
    }

    /** {@code evtchn_unmask}: EINVAL for a free port; a port pending meanwhile is delivered now. */
    void unmask(SimDomain d, int port) {
        Channel c = channel(d, port);
        XenError.failIf(c == null, Errno.EINVAL);
        c.masked = false;
        if (c.pending) {
            deliver(c);
        }
    }

    /**
     * {@code evtchn_destroy} in {@code domain_kill}: every port of the dying domain closed as Xen
     * closes them (ports of other domains joined to them left unbound, allocated for it); the
     * domain allocates no port again (get_free_port's EINVAL for a dying domain).
     */
    void destroy(SimDomain d) {
        Ports p = domains.get(d);
        if (p == null) {
            return;
        }
        for (int port : p.channels.descendingKeySet().toArray(new Integer[0])) {
            if (port != 0) {
                close(d, port);
            }
        }
        domains.remove(d);
    }

    /**
     * dom0's Linux binds an interrupt handler to its port {@code port}
     * ({@code bind_evtchn_to_irqhandler_lateeoi}): its FIFO event array grows to cover the port,
     * and starting the interrupt unmasks the port, delivering a pending notification at once.
     */
    void bindUpcall(SimDomain dom0, int port, IntConsumer handler) {
        Channel c = channel(dom0, port);
        c.upcall = handler;
        dom0EventArrayPages = Math.max(dom0EventArrayPages, port / FIFO_PORTS_PER_PAGE + 1);
        unmask(dom0, port);
    }

    /** dom0's Linux takes its handler off port {@code port} ({@code disable_irq}, unbind): the port stays masked. */
    void unbindUpcall(SimDomain dom0, int port) {
        Channel c = channel(dom0, port);
        if (c != null) {
            c.masked = true;
            c.upcall = null;
        }
    }

    /**
     * Linux's {@code xen_evtchn_nr_channels()} in dom0: the ports its FIFO event array covers
     * (a page of 1024 at boot, more as it binds higher ports), or the 2-level ABI's 4096.
     */
    int nrChannels() {
        return dom0Fifo ? dom0EventArrayPages * FIFO_PORTS_PER_PAGE : TWO_LEVEL_PORTS;
    }

    /** The port as a view, or null if it is free. */
    SimEventChannel view(SimDomain d, int port) {
        Channel c = channel(d, port);
        if (c == null) {
            return null;
        }
        boolean joined = c.state == SimEventChannel.State.INTERDOMAIN;
        return new SimEventChannel(d.domid, port, c.state,
                joined ? c.remoteDomain.domid : c.unboundRemoteDomid, joined ? c.remotePort : -1,
                c.pending, c.masked, c.xenConsumer != null);
    }

    /**
     * {@code get_free_port} and {@code evtchn_allocate_port}: the lowest free port of {@code d},
     * allocated but still free in state; EINVAL if {@code d} is dying, ENOSPC if all
     * {@code max_evtchns(d)} ports are in use. A port without a Linux handler is never delivered
     * (see {@link #deliver}), as Linux keeps such ports masked.
     */
    private Channel allocate(SimDomain d) {
        XenError.failIf(!d.isAlive(), Errno.EINVAL);
        Ports p = ports(d);
        int port = 0;
        for (int used : p.channels.keySet()) {
            if (used != port) {
                break;
            }
            port++;
        }
        XenError.failIf(port >= p.limit, Errno.ENOSPC);
        Channel c = new Channel(port, SimEventChannel.State.UNBOUND);
        p.channels.put(port, c);
        return c;
    }

    /**
     * {@code evtchn_port_set_pending}: nothing if the port is pending already (one bit); else
     * pending, and delivered if it is unmasked.
     */
    private void setPending(SimDomain d, Channel c) {
        if (c.pending) {
            return;
        }
        c.pending = true;
        if (!c.masked) {
            deliver(c);
        }
    }

    /**
     * The upcall for a pending, unmasked port of dom0 with a Linux handler: Linux acks it late
     * ({@code lateeoi_ack_dynirq}: mask, then clear pending) and runs the handler. Pending ports of
     * guests stay pending: the simulator runs no guest kernel.
     */
    private void deliver(Channel c) {
        if (c.upcall == null) {
            return;
        }
        c.masked = true;
        c.pending = false;
        c.upcall.accept(c.port);
    }

    private Ports ports(SimDomain d) {
        return domains.computeIfAbsent(d, x -> new Ports(x == table.caller() && dom0Fifo ? FIFO_PORTS : TWO_LEVEL_PORTS));
    }

    /** {@code _evtchn_from_port}: the port's channel, or null if it is free or out of range, or the domain's ports are gone. */
    private Channel channel(SimDomain d, int port) {
        Ports p = d.isAlive() ? ports(d) : domains.get(d);
        return p == null ? null : p.channels.get(port);
    }
}
