package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.NativeException;

/** __HYPERVISOR_multicall: libxc ≥ 4.16 sends memory_op as a one-entry multicall (tools/libs/ctrl/xc_private.c). */
class MulticallTest {

    /** Writes entries {op, args...} into one hypercall buffer and returns its address. */
    private static long entries(SimClient c, long[]... calls) throws NativeException {
        StructLayout e = c.struct("multicall_entry");
        long buf = c.buffer(calls.length * e.size());
        for (int i = 0; i < calls.length; i++) {
            Map<String, String> f = new LinkedHashMap<>();
            f.put("op", Long.toString(calls[i][0]));
            for (int a = 1; a < calls[i].length; a++) {
                f.put("args[" + (a - 1) + "]", Long.toUnsignedString(calls[i][a]));
            }
            c.seam.write(buf + (long) i * e.size(), StructCodec.encode(e, f), 0, e.size());
        }
        return buf;
    }

    private static long result(SimClient c, long list, int index) {
        StructLayout e = c.struct("multicall_entry");
        return e.leaf("result").read(c.get(list + (long) index * e.size(), e.size()), 0);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aForkInAOneEntryMulticallReportsThroughTheEntry(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain parent = c.xen.addGuest(GuestSpec.hvm("parent", 1, 4096));
        int child = c.newForkChild(1);
        StructLayout mso = c.struct("xen_mem_sharing_op");
        long msoBuf = c.put(StructCodec.encode(mso, Map.of("op", Long.toString(c.constant("XENMEM_sharing_op_fork")),
                "domain", Integer.toString(child), "u.fork.parent_domain", Integer.toString(parent.domid()),
                "u.fork.pad", "1")));
        long memoryOp = c.constant("__HYPERVISOR_memory_op");
        long sharing = c.constant("XENMEM_sharing_op");
        long list = entries(c, new long[] {memoryOp, sharing, msoBuf});
        long multicall = c.constant("__HYPERVISOR_multicall");
        assertThat(c.hypercall(multicall, list, 1)).isZero();
        assertThat(result(c, list, 0)).isEqualTo(-Errno.EINVAL); // the full 64-bit -EINVAL

        c.seam.write(msoBuf, StructCodec.encode(mso, Map.of("op", Long.toString(c.constant("XENMEM_sharing_op_fork")),
                "domain", Integer.toString(child), "u.fork.parent_domain", Integer.toString(parent.domid()))),
                0, mso.size());
        list = entries(c, new long[] {memoryOp, sharing, msoBuf});
        assertThat(c.hypercall(multicall, list, 1)).isZero();
        assertThat(result(c, list, 0)).isZero();
        assertThat(c.xen.domain(child).orElseThrow().parent()).hasValue(parent.domid());
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void severalEntriesRunInOrderEachWithItsResult(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        long xenVersion = c.constant("__HYPERVISOR_xen_version");
        long multicall = c.constant("__HYPERVISOR_multicall");
        long list = entries(c,
                new long[] {xenVersion, c.constant("XENVER_version"), 0},
                new long[] {xenVersion, c.constant("XENVER_pagesize"), 0},
                new long[] {0x55},
                new long[] {multicall, 0, 0},
                new long[] {xenVersion, c.constant("XENVER_pagesize"), 0x1000});
        assertThat(c.hypercall(multicall, list, 5)).isZero();
        assertThat(result(c, list, 0)).isEqualTo(0x40000L | Integer.parseInt(release.substring(2)));
        assertThat(result(c, list, 1)).isEqualTo(4096);
        assertThat(result(c, list, 2)).isEqualTo(-Errno.ENOSYS);
        assertThat(result(c, list, 3)).isEqualTo(-Errno.EINVAL); // multicall reentry is disallowed
        assertThat(result(c, list, 4)).isEqualTo(-Errno.EINVAL); // pagesize with an argument
        assertThat(c.xen.calls()).extracting(l -> l.call().shortName()).containsExactly("multicall",
                "XENVER_version", "XENVER_pagesize", "cmd 85", "multicall", "XENVER_pagesize");
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void unreadableEntriesAreEfault(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        long multicall = c.constant("__HYPERVISOR_multicall");
        assertThat(c.hypercall(multicall, 0x1000, 1)).isEqualTo(-Errno.EFAULT);
        assertThat(c.hypercall(multicall, 0x1000, 0)).isZero();
        // the second entry lies past the end of a one-page list
        StructLayout e = c.struct("multicall_entry");
        long page = c.buffer(4096);
        long list = page + 4096 - e.size();
        c.seam.write(list, StructCodec.encode(e, Map.of("op", Long.toString(c.constant("__HYPERVISOR_xen_version")))),
                0, e.size());
        assertThat(c.hypercall(multicall, list, 2)).isEqualTo(-Errno.EFAULT);
        assertThat(result(c, list, 0)).isEqualTo(0x40000L | Integer.parseInt(release.substring(2)));
    }
}
