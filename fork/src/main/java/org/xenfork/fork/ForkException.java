package org.xenfork.fork;

import java.util.List;
import org.xenfork.privcmd.XenException;

/**
 * A fork workflow failed at one step: which step, why (the hypervisor's or
 * xenstore's refusal is the cause), and what was done about it (rollback). The
 * command line maps it to exit code 1.
 */
public final class ForkException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ForkStep step;
    private final String rollback;
    private final transient List<Integer> kept;

    /** A step that failed with nothing made before it to keep. */
    public ForkException(ForkStep step, Exception cause, String rollback) {
        this(step, cause, rollback, List.of());
    }

    ForkException(ForkStep step, Exception cause, String rollback, List<Integer> kept) {
        super(step.description() + " failed: " + cause.getMessage()
                + (rollback.isEmpty() ? "" : "; " + rollback), cause);
        this.step = step;
        this.rollback = rollback;
        this.kept = List.copyOf(kept);
    }

    /** The same failure, with one more thing that was done about it. */
    public ForkException withRollback(String more) {
        ForkException e = new ForkException(step, (Exception) getCause(), rollback.isEmpty() ? more : rollback + "; " + more,
                kept);
        for (Throwable t : getSuppressed()) {
            e.addSuppressed(t);
        }
        return e;
    }

    /** What was undone after the failure (empty when nothing needed undoing). */
    public String rollback() {
        return rollback;
    }

    public ForkStep step() {
        return step;
    }

    /** The errno the hypervisor answered, or 0 when the cause was not a hypercall. */
    public int errno() {
        return getCause() instanceof XenException x ? x.errno() : 0;
    }

    /** Forks made before the failure (a {@code --count} run): they exist and are kept. */
    public List<Integer> kept() {
        return kept;
    }
}
