package org.xenfork.sim;

/**
 * One event channel port of a simulated domain as Xen's {@code struct evtchn} has it, for tests
 * to look at ({@link SimXen#eventChannel}). A free port ({@code ECS_FREE}) has no view.
 *
 * @param domid       the domain the port belongs to
 * @param port        the port number
 * @param state       Xen's {@code ECS_*} state
 * @param remoteDomid unbound: the domain allowed to bind it ({@code u.unbound.remote_domid});
 *                    interdomain: the domain at the other end; reserved: -1
 * @param remotePort  interdomain: the port at the other end; else -1
 * @param pending     the port's pending bit
 * @param masked      the port's mask bit
 * @param xenAttached allocated by Xen for itself ({@code consumer_is_xen}), as a vm_event ring's port
 */
public record SimEventChannel(int domid, int port, State state, int remoteDomid, int remotePort, boolean pending,
                              boolean masked, boolean xenAttached) {

    /** {@code ECS_RESERVED} (port 0), {@code ECS_UNBOUND}, {@code ECS_INTERDOMAIN}; the others are not modelled. */
    public enum State { RESERVED, UNBOUND, INTERDOMAIN }
}
