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
    void noEvtchnDeviceSaysWhatToDo() {
        Assumptions.assumeFalse(Files.exists(Path.of(Linux.EVTCHN_DEVICE)),
                "this machine is a Xen dom0; the not-a-dom0 message cannot be seen here");
        assertThatThrownBy(() -> Evtchn.open(LinuxSeam.get()))
                .isInstanceOf(XenEnvironmentException.class)
                .hasMessageContaining("/dev/xen/evtchn does not exist")
                .hasMessageContaining("modprobe xen-evtchn")
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

    @Test
    void notRootSaysSo() {
        assertThatThrownBy(() -> Privcmd.open(new RefusingSeam(Errno.EACCES)))
                .isInstanceOf(XenEnvironmentException.class)
                .hasMessageContaining("open(/dev/xen/privcmd): EACCES (13)")
                .hasMessageContaining("run xenfork as root");
    }

    @Test
    void aBrokenHypercallDeviceClosesThePrivcmdFd() {
        RefusingSeam seam = new RefusingSeam(0) {
            @Override
            public int open(String path, int flags) throws NativeException {
                if (path.equals(Linux.HYPERCALL_DEVICE)) {
                    throw new NativeException("open(" + path + ")", Errno.EIO);
                }
                return super.open(path, flags);
            }
        };
        assertThatThrownBy(() -> Privcmd.open(seam)).isInstanceOf(XenEnvironmentException.class)
                .hasMessageContaining("EIO");
        assertThat(seam.closed).containsExactly(seam.opened.get(0));
    }

    /** Real libc for everything but open, which fails with {@code errno} (0: opens /dev/null instead). */
    private static class RefusingSeam extends ForwardingSeam {
        private final int errno;
        final java.util.List<Integer> opened = new java.util.ArrayList<>();
        final java.util.List<Integer> closed = new java.util.ArrayList<>();

        RefusingSeam(int errno) {
            super(LinuxSeam.get());
            this.errno = errno;
        }

        @Override
        public int open(String path, int flags) throws NativeException {
            if (errno != 0) {
                throw new NativeException("open(" + path + ")", errno);
            }
            int fd = super.open("/dev/null", flags);
            opened.add(fd);
            return fd;
        }

        @Override
        public void close(int fd) throws NativeException {
            closed.add(fd);
            super.close(fd);
        }
    }
}
