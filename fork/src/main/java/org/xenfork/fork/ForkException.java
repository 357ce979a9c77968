package org.xenfork.fork;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.xenfork.privcmd.XenException;

/**
 * A fork workflow failed at one step: which step, why (the hypervisor's or
 * xenstore's refusal is the cause), and what was done about it: the
 * {@linkplain #rollback() rollback}, a list of {@link Undo}s, each with its
 * outcome. The message says all three; the command line maps it to exit code 1.
 */
public final class ForkException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ForkStep step;
    private final transient List<Undo> rollback;
    private final transient List<Integer> kept;

    /** A step that failed with nothing made before it to keep. */
    public ForkException(ForkStep step, Exception cause, List<Undo> rollback) {
        this(step, cause, rollback, List.of());
    }

    ForkException(ForkStep step, Exception cause, List<Undo> rollback, List<Integer> kept) {
        super(step.description() + " failed: " + cause.getMessage()
                + (rollback.isEmpty() ? "" : "; " + describe(rollback)), cause);
        this.step = step;
        this.rollback = List.copyOf(rollback);
        this.kept = List.copyOf(kept);
        rollback.forEach(u -> u.failureCause().ifPresent(this::addSuppressed));
    }

    /** The same failure, with one more thing that was done about it. */
    public ForkException withUndo(Undo more) {
        List<Undo> all = new ArrayList<>(rollback);
        all.add(more);
        ForkException e = new ForkException(step, (Exception) getCause(), all, kept);
        for (Throwable t : getSuppressed()) {
            if (rollback.stream().noneMatch(u -> u.failure() == t)) { // those the constructor adds again
                e.addSuppressed(t);
            }
        }
        return e;
    }

    /** What was done after the failure, in order (empty when nothing needed undoing). */
    public List<Undo> rollback() {
        return rollback;
    }

    /** The half-made fork could not be destroyed: a domain was left behind. */
    public boolean leftAForkBehind() {
        return forkLeft(rollback);
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

    /**
     * The rollback in words. A parent unpaused again while a half-made fork could not be destroyed is
     * still paused in effect: Xen holds a parent paused while it has forks, so the words say so.
     */
    static String describe(List<Undo> rollback) {
        boolean forkLeft = forkLeft(rollback);
        return rollback.stream().map(u -> u.describe()
                        + (forkLeft && u.action() == Undo.Action.UNPAUSE_PARENT && u.succeeded()
                        ? " (the fork left behind still holds it paused until it is destroyed)" : ""))
                .collect(Collectors.joining("; "));
    }

    private static boolean forkLeft(List<Undo> rollback) {
        return rollback.stream().anyMatch(u -> u.action() == Undo.Action.DESTROY_HALF_MADE_FORK && !u.succeeded());
    }
}
