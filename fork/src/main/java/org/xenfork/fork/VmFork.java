package org.xenfork.fork;

import java.util.Optional;
import org.xenfork.privcmd.XenException;

/**
 * A fork made or attached by a {@link Forker}. Closing it destroys the domain
 * (and its xenstore name) unless {@link #keep()} handed it over, as the command
 * line does with the forks it prints.
 *
 * <p>{@link #reset()} in a loop allocates nothing: its flags are computed once
 * and the hypercall goes through the {@code Hypervisor}'s reused buffers.
 */
public final class VmFork implements AutoCloseable {
    private final Forker forker;
    private final int domid;
    private final int parent;
    private final String name;
    private final int resetBoth;
    private boolean owned = true;
    private boolean destroyed;

    VmFork(Forker forker, int domid, int parent, String name) {
        this.forker = forker;
        this.domid = domid;
        this.parent = parent;
        this.name = name;
        this.resetBoth = forker.resetFlags(true, true);
    }

    public int domid() {
        return domid;
    }

    /** The parent's id, or -1 for a fork found with {@link Forker#attach} (Xen does not report it). */
    public int parent() {
        return parent;
    }

    /** The xenstore name given at fork time. */
    public Optional<String> name() {
        return Optional.ofNullable(name);
    }

    /** Back to the parent's state and memory: {@code XENMEM_sharing_op_fork_reset}, both parts. */
    public void reset() {
        forker.reset(domid, resetBoth);
    }

    /** {@code XENMEM_sharing_op_fork_reset} of state and/or memory (4.17+; both before). */
    public void reset(boolean state, boolean memory) {
        forker.reset(domid, forker.resetFlags(state, memory));
    }

    /** {@code XEN_DOMCTL_pausedomain}. */
    public void pause() {
        forker.pause(domid);
    }

    /** {@code XEN_DOMCTL_unpausedomain}. */
    public void unpause() {
        forker.unpause(domid);
    }

    /** The fork outlives this object: {@link #close()} will not destroy it. */
    public VmFork keep() {
        owned = false;
        return this;
    }

    /** Destroys the fork now ({@code XEN_DOMCTL_destroydomain}, then its xenstore name). */
    public void destroy() {
        if (!destroyed) {
            try {
                forker.destroy(domid);
                destroyed = true;
            } catch (ForkException e) {
                destroyed = !(e.getCause() instanceof XenException); // the domain is gone, only its name was left
                throw e;
            }
        }
    }

    @Override
    public void close() {
        if (owned) {
            destroy();
        }
    }

    @Override
    public String toString() {
        return "fork " + domid + (parent >= 0 ? " of " + parent : "") + (name == null ? "" : " (" + name + ")");
    }
}
