package org.xenfork.sim;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Predicate;

/**
 * Planned failures: each matches calls by a predicate and makes the next
 * {@code times} matching calls fail with its errno. A failed call returns
 * before doing anything, like a hypercall refused at its first check, so a
 * workflow test sees the errno with no side effect to undo.
 */
final class Faults {

    private static final class Fault {
        final Predicate<SimCall> when;
        final int errno;
        int remaining;

        Fault(Predicate<SimCall> when, int errno, int remaining) {
            this.when = when;
            this.errno = errno;
            this.remaining = remaining;
        }
    }

    private final List<Fault> faults = new ArrayList<>();

    void add(Predicate<SimCall> when, int errno, int times) {
        if (errno <= 0 || errno > 4095) {
            throw new IllegalArgumentException("errno must be 1..4095, got " + errno);
        }
        if (times < 1) {
            throw new IllegalArgumentException("times must be at least 1, got " + times);
        }
        faults.add(new Fault(when, errno, times));
    }

    /** The errno for this call if a planned fault matches (using one shot of it), else 0. */
    int take(SimCall call) {
        for (Iterator<Fault> it = faults.iterator(); it.hasNext(); ) {
            Fault f = it.next();
            if (f.when.test(call)) {
                if (--f.remaining == 0) {
                    it.remove();
                }
                return f.errno;
            }
        }
        return 0;
    }

    void clear() {
        faults.clear();
    }
}
