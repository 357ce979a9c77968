package org.xenfork.fork;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A workflow stopped at a safe point because a {@link StopRequest} asked it to: not a failure.
 * The forks made before it are kept ({@link #kept()}); what was in progress was finished or rolled
 * back, and what stays on purpose (a parent that stays paused) is said: {@link #rollback()}, the
 * same {@link Undo}s a {@link ForkException} carries. The command line maps it to exit code 130
 * (a real signal makes the JVM exit with 128 + its number).
 */
public final class StoppedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String reason;
    private final String where;
    private final transient List<Integer> kept;
    private final transient List<Undo> rollback;

    StoppedException(String reason, String where, List<Integer> kept, List<Undo> rollback) {
        super("stopped by " + reason + " " + where
                + (kept.isEmpty() ? "" : "; the forks made are kept: domain"
                        + (kept.size() == 1 ? " " : "s ") + kept.stream().map(String::valueOf).collect(Collectors.joining(", ")))
                + (rollback.isEmpty() ? "" : "; " + ForkException.describe(rollback)));
        this.reason = reason;
        this.where = where;
        this.kept = List.copyOf(kept);
        this.rollback = List.copyOf(rollback);
        rollback.forEach(u -> u.failureCause().ifPresent(this::addSuppressed));
    }

    /** The same stop, with more that was done about it (a rollback further out, e.g. the fork under a QEMU). */
    public StoppedException withUndo(List<Undo> more) {
        List<Undo> all = new ArrayList<>(rollback);
        all.addAll(more);
        return new StoppedException(reason, where, kept, all);
    }

    /** Forks made before the stop: they exist and are kept. */
    public List<Integer> kept() {
        return kept;
    }

    /** What was done at the stop, in order: undone, finished, or kept on purpose. */
    public List<Undo> rollback() {
        return rollback;
    }
}
