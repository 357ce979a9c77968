package org.xenfork.privcmd;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.xenfork.abi.Abi;

/** The ioctl numbers in {@link Linux} are Linux's {@code _IOC} of their structs' sizes, which gcc holds (CHeaderOracleTest). */
class LinuxTest {

    /** {@code _IOC(dir, type, nr, size)} of asm-generic/ioctl.h: dir in bits 30-31, size 16-29, type 8-15, nr 0-7. */
    private static int ioc(int dir, char type, int nr, int size) {
        return dir << 30 | size << 16 | type << 8 | nr;
    }

    private static int size(String struct) {
        return Abi.anyRelease().struct(struct).size();
    }

    @Test
    void privcmdIoctlsAreIocNoneOfTheirStructs() {
        assertThat(Linux.IOCTL_PRIVCMD_HYPERCALL).isEqualTo(ioc(0, 'P', 0, size("privcmd_hypercall")));
        assertThat(Linux.IOCTL_PRIVCMD_MMAPBATCH_V2).isEqualTo(ioc(0, 'P', 4, size("privcmd_mmapbatch_v2")));
        assertThat(size("privcmd_mmapbatch_v2")).isEqualTo(32);
    }
}
