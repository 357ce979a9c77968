package org.xenfork.fork;

/**
 * How {@link Forker#fork} makes a fork.
 *
 * @param leavePaused     leave the fork paused (xl's {@code -p}); else it is unpaused
 * @param blockInterrupts {@code XENMEM_FORK_BLOCK_INTERRUPTS}: no interrupts are
 *                        injected into the fork (fuzzers without a device model)
 * @param allowIommu      {@code XENMEM_FORK_WITH_IOMMU_ALLOWED}: the parent may have an IOMMU
 * @param name            the fork's name in xenstore, or null for none; with a
 *                        count of N the forks are NAME, NAME-2 … NAME-N
 */
public record ForkOptions(boolean leavePaused, boolean blockInterrupts, boolean allowIommu, String name) {

    /** Unpaused, interrupts delivered, no IOMMU, no name. */
    public static final ForkOptions DEFAULT = new ForkOptions(false, false, false, null);

    public ForkOptions {
        if (name != null) {
            DomainNames.check(name);
        }
    }

    public ForkOptions paused() {
        return new ForkOptions(true, blockInterrupts, allowIommu, name);
    }

    public ForkOptions blockingInterrupts() {
        return new ForkOptions(leavePaused, true, allowIommu, name);
    }

    public ForkOptions allowingIommu() {
        return new ForkOptions(leavePaused, blockInterrupts, true, name);
    }

    public ForkOptions named(String newName) {
        return new ForkOptions(leavePaused, blockInterrupts, allowIommu, newName);
    }

    /** The name of the {@code index}-th fork (1-based) of a batch: NAME, NAME-2, NAME-3 … */
    String nameOf(int index) {
        return name == null ? null : index == 1 ? name : name + "-" + index;
    }
}
