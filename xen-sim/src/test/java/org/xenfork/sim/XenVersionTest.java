package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.NativeException;

/** __HYPERVISOR_xen_version through the seam (xen/common/kernel.c). */
class XenVersionTest {

    private static long xenver(SimClient c, String sub, long arg) throws NativeException {
        return c.hypercall(c.constant("__HYPERVISOR_xen_version"), c.constant("XENVER_" + sub), arg);
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.US_ASCII);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void versionIsMajorShiftedAndMinor(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        XenRelease r = XenRelease.parse(release);
        long word = xenver(c, "version", 0);
        assertThat(word).isEqualTo((long) r.major() << 16 | r.minor());
        assertThat(XenRelease.fromVersionWord(word)).isEqualTo(r);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void stringsAreCopiedIntoFixedArrays(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).extraVersion(".7").build());
        long buf = c.buffer(4096);
        assertThat(xenver(c, "extraversion", buf)).isZero();
        assertThat(cString(c.get(buf, 16))).isEqualTo(".7");
        assertThat(xenver(c, "capabilities", buf)).isZero();
        assertThat(cString(c.get(buf, 1024))).isEqualTo("xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
        assertThat(xenver(c, "changeset", buf)).isZero();
        assertThat(cString(c.get(buf, 64))).isEmpty();
        assertThat(xenver(c, "commandline", buf)).isZero();
        assertThat(cString(c.get(buf, 1024))).contains("dom0_mem=2048M");

        StructLayout ci = c.struct("xen_compile_info");
        assertThat(xenver(c, "compile_info", buf)).isZero();
        byte[] info = c.get(buf, ci.size());
        int by = ci.field("compile_by").orElseThrow().offset();
        assertThat(cString(java.util.Arrays.copyOfRange(info, 0, 64))).startsWith("gcc");
        assertThat(cString(java.util.Arrays.copyOfRange(info, by, by + 16))).isEqualTo("xenfork");
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void fixedAnswersAndTheirErrors(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        long buf = c.buffer(4096);
        assertThat(xenver(c, "pagesize", 0)).isEqualTo(4096);
        assertThat(xenver(c, "pagesize", buf)).isEqualTo(-Errno.EINVAL);

        StructLayout fi = c.struct("xen_feature_info");
        c.seam.write(buf, StructCodec.encode(fi, Map.of("submap_idx", "0")), 0, fi.size());
        assertThat(xenver(c, "get_features", buf)).isZero();
        assertThat(StructCodec.decode(fi, c.get(buf, fi.size()), Optional.empty())).containsEntry("submap", 0x228f0L);
        c.seam.write(buf, StructCodec.encode(fi, Map.of("submap_idx", "1")), 0, fi.size());
        assertThat(xenver(c, "get_features", buf)).isEqualTo(-Errno.EINVAL);

        assertThat(xenver(c, "platform_parameters", buf)).isZero();
        assertThat(c.struct("xen_platform_parameters").leaf("virt_start").read(c.get(buf, 8), 0))
                .isEqualTo(0xffff_8000_0000_0000L);
        assertThat(xenver(c, "guest_handle", buf)).isZero();
        assertThat(c.get(buf, 16)).containsOnly(0);

        // an unknown sub-op falls out of do_xen_version's switch
        assertThat(c.hypercall(c.constant("__HYPERVISOR_xen_version"), 99, buf)).isEqualTo(-Errno.ENOSYS);
        // a string sub-op into memory Xen cannot write
        assertThat(xenver(c, "extraversion", 0x1000)).isEqualTo(-Errno.EFAULT);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withoutVarbuf")
    void buildIdBefore420TakesXenBuildIdAndRefusesAZeroLength(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        StructLayout bid = c.struct("xen_build_id");
        long buf = c.buffer(4096);
        assertThat(xenver(c, "build_id", 0)).isEqualTo(20);
        assertThat(xenver(c, "build_id", buf)).isEqualTo(-Errno.EINVAL);
        c.seam.write(buf, StructCodec.encode(bid, Map.of("len", "8")), 0, bid.size());
        assertThat(xenver(c, "build_id", buf)).isEqualTo(-Errno.ENOBUFS);
        c.seam.write(buf, StructCodec.encode(bid, Map.of("len", "64")), 0, bid.size());
        assertThat(xenver(c, "build_id", buf)).isEqualTo(20);
        // the *2 varbuf sub-ops do not exist before 4.20
        assertThat(c.hypercall(c.constant("__HYPERVISOR_xen_version"), 11, buf)).isEqualTo(-Errno.ENOSYS);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withVarbuf")
    void varbufSubOpsFrom420(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).extraVersion(".3").build());
        StructLayout vb = c.struct("xen_varbuf");
        int bufOffset = vb.field("buf").orElseThrow().offset();
        long buf = c.buffer(4096);
        assertThat(xenver(c, "extraversion2", 0)).isEqualTo(2);
        c.seam.write(buf, StructCodec.encode(vb, Map.of("len", "1")), 0, vb.size());
        assertThat(xenver(c, "extraversion2", buf)).isEqualTo(-Errno.ENOBUFS);
        c.seam.write(buf, StructCodec.encode(vb, Map.of("len", "100")), 0, vb.size());
        assertThat(xenver(c, "extraversion2", buf)).isEqualTo(2);
        assertThat(new String(c.get(buf + bufOffset, 2), StandardCharsets.US_ASCII)).isEqualTo(".3");
        long n = xenver(c, "capabilities2", buf);
        assertThat(new String(c.get(buf + bufOffset, (int) n), StandardCharsets.US_ASCII))
                .isEqualTo(XenVersionHypercall.CAPABILITIES);
        assertThat(xenver(c, "changeset2", 0)).isZero();
        assertThat(xenver(c, "commandline2", 0)).isPositive();
        // 4.20 build_id has varbuf semantics: a zero len is just too short
        c.seam.write(buf, StructCodec.encode(vb, Map.of("len", "0")), 0, vb.size());
        assertThat(xenver(c, "build_id", buf)).isEqualTo(-Errno.ENOBUFS);
    }
}
