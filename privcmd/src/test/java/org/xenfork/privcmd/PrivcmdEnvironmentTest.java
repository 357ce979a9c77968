package org.xenfork.privcmd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** What a user sees on a machine that is not a Xen dom0, and domain-id validation. */
class PrivcmdEnvironmentTest {

    @Test
    void noPrivcmdDeviceSaysWhatToDo() {
        Assumptions.assumeFalse(Files.exists(Path.of(Linux.PRIVCMD_DEVICE)),
                "this machine is a Xen dom0; the not-a-dom0 message cannot be seen here");
        assertThatThrownBy(() -> Privcmd.open(LinuxSeam.get()))
                .isInstanceOf(XenEnvironmentException.class)
                .hasMessageContaining("/dev/xen/privcmd does not exist")
                .hasMessageContaining("not a Xen dom0")
                .hasMessageContaining("--backend sim");
    }

    @Test
    void domainIdsAreValidated() {
        assertThat(Domid.parse("0")).isZero();
        assertThat(Domid.parse("32751")).isEqualTo(0x7fef);
        assertThat(Domid.parse("0x7fef")).isEqualTo(0x7fef);
        for (String bad : new String[] {"32752", "0x7ff0", "-1", "", "1e3", "12abc", "999999999999", " "}) {
            assertThatThrownBy(() -> Domid.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("domain id");
        }
        assertThatThrownBy(() -> Domid.parseGuest("0", "destroy")).hasMessageContaining("refusing to destroy domain 0");
    }

    @Test
    void hintsNameTheUsualCauses() {
        assertThat(XenException.hintFor("XENMEM_sharing_op_fork", Errno.ENOSYS)).contains("not built into this hypervisor");
        assertThat(XenException.hintFor("XENMEM_sharing_op_fork", Errno.EOPNOTSUPP)).contains("Intel VT-x");
        assertThat(new XenException("XEN_DOMCTL_createdomain", -1, Errno.EINVAL, "invalid argument").getMessage())
                .isEqualTo("XEN_DOMCTL_createdomain: EINVAL (22): invalid argument");
    }
}
