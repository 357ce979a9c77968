package org.xenfork.fork;

/** The steps of the fork workflows, as errors name them. */
public enum ForkStep {
    CHECK_PARENT("check the parent"),
    CHECK_HOST("read the host's capabilities (XEN_SYSCTL_physinfo)"),
    CHECK_NAMES("check that the names are free"),
    FIND("find the fork"),
    PAUSE_PARENT("pause the parent"),
    CREATE("create the fork's domain"),
    FORK("fork the parent (XENMEM_sharing_op_fork)"),
    NAME("name the fork in xenstore"),
    UNPAUSE("unpause the fork"),
    PAUSE("pause the fork"),
    RESET("reset the fork (XENMEM_sharing_op_fork_reset)"),
    DESTROY("destroy the domain"),
    SAVE_DEVICE_STATE("save the device state (QMP xen-save-devices-state)"),
    LAUNCH_DM("start the fork's device model (QEMU)");

    private final String description;

    ForkStep(String description) {
        this.description = description;
    }

    /** What the step does, for messages: {@code create the fork's domain}. */
    public String description() {
        return description;
    }
}
