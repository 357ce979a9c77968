package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Optional;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.NativeException;

/** XEN_SYSCTL_getdomaininfolist and XEN_SYSCTL_physinfo through the seam (xen/common/sysctl.c). */
class SysctlTest {
    private static final String L = "u.getdomaininfolist.";

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void getdomaininfolistWritesEntriesAtTheReleaseStride(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain a = c.xen.addGuest(GuestSpec.hvm("a", 1, 4096));
        SimDomain b = c.xen.addGuest(GuestSpec.pvh("b", 3, 8192));
        // the release's entry size (104 bytes up to 4.15, 112 from 4.16; ReleaseLayoutsTest holds it to gcc's)
        StructLayout info = c.struct("xen_domctl_getdomaininfo");
        int stride = info.size();

        long buf = c.buffer(4096);
        SimClient.Outcome r = c.sysctl("getdomaininfolist", Map.of(L + "first_domain", 0, L + "max_domains", 10,
                L + "buffer", buf));
        assertThat(r.ok()).isTrue();
        assertThat(r.rc()).isZero();
        assertThat(r.get(L + "num_domains")).isEqualTo(3);
        byte[] out = c.get(buf, 4096);
        for (int i = 0; i < 3; i++) {
            assertThat(info.leaf("domain").read(out, i * stride)).isEqualTo(new int[] {0, a.domid(), b.domid()}[i]);
        }
        assertThat(info.leaf("max_vcpu_id").read(out, 2 * stride)).isEqualTo(2);
        assertThat(info.leaf("tot_pages").read(out, 2 * stride)).isEqualTo(2048);
        assertThat(info.leaf("arch_config.emulation_flags").read(out, 2 * stride)).isEqualTo(1);
        // nothing written past the last entry
        assertThat(java.util.Arrays.copyOfRange(out, 3 * stride, 4096)).containsOnly(0);
        // the same entry as XEN_DOMCTL_getdomaininfo reports
        SimClient.Outcome one = c.domctl("getdomaininfo", b.domid());
        byte[] viaDomctl = java.util.Arrays.copyOfRange(one.bytes(), 16, 16 + stride);
        StructLayout cmp = c.struct("xen_domctl_getdomaininfo");
        Map<String, Long> fromList = StructCodec.decode(cmp, java.util.Arrays.copyOfRange(out, 2 * stride,
                3 * stride), Optional.empty());
        Map<String, Long> fromDomctl = StructCodec.decode(cmp, viaDomctl, Optional.empty());
        fromList.remove("cpu_time");
        fromDomctl.remove("cpu_time");
        assertThat(fromList).isEqualTo(fromDomctl);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void firstAndMaxDomainsBoundTheWalk(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain a = c.xen.addGuest(GuestSpec.hvm("a", 1, 4096));
        SimDomain b = c.xen.addGuest(GuestSpec.hvm("b", 1, 4096));
        long buf = c.buffer(4096);
        StructLayout info = c.struct("xen_domctl_getdomaininfo");
        SimClient.Outcome r = c.sysctl("getdomaininfolist", Map.of(L + "first_domain", a.domid(),
                L + "max_domains", 1, L + "buffer", buf));
        assertThat(r.get(L + "num_domains")).isEqualTo(1);
        assertThat(info.leaf("domain").read(c.get(buf, info.size()), 0)).isEqualTo(a.domid());
        r = c.sysctl("getdomaininfolist", Map.of(L + "first_domain", b.domid() + 1, L + "max_domains", 5,
                L + "buffer", buf));
        assertThat(r.get(L + "num_domains")).isZero();
        // a buffer Xen cannot write: EFAULT, and num_domains is not copied back
        r = c.sysctl("getdomaininfolist", Map.of(L + "max_domains", 5, L + "buffer", 0x1000,
                L + "num_domains", 77));
        assertThat(r.errno()).isEqualTo(Errno.EFAULT);
        assertThat(r.get(L + "num_domains")).isEqualTo(77);
        // the buffer is one page: the third entry would run off its end
        long page = c.buffer(4096);
        r = c.sysctl("getdomaininfolist", Map.of(L + "max_domains", 5, L + "buffer", page + 4096 - info.size()));
        assertThat(r.errno()).isEqualTo(Errno.EFAULT);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void physinfoUsesTheReleaseLayout(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).host(4, 8L << 20).build());
        SimClient.Outcome r = c.sysctl("physinfo", Map.of());
        assertThat(r.ok()).isTrue();
        String p = "u.physinfo.";
        assertThat(r.get(p + "nr_cpus")).isEqualTo(4);
        assertThat(r.get(p + "max_cpu_id")).isEqualTo(3);
        assertThat(r.get(p + "threads_per_core") * r.get(p + "cores_per_socket")).isEqualTo(4);
        assertThat(r.get(p + "total_pages")).isEqualTo(2L << 20);
        assertThat(r.get(p + "free_pages")).isEqualTo((2L << 20) - 524288); // dom0 holds 2 GiB
        assertThat(r.get(p + "cpu_khz")).isPositive();
        long caps = r.get(p + "capabilities");
        assertThat(caps & c.constant("XEN_SYSCTL_PHYSCAP_hvm")).isNotZero();
        assertThat(caps & c.constant("XEN_SYSCTL_PHYSCAP_hap")).isNotZero();
        assertThat(caps & c.constant("XEN_SYSCTL_PHYSCAP_pv")).isNotZero();
        // the grant table versions the host offers, where the release names them (4.16 on), and no capability
        // the release does not declare
        long gnttab = c.abi.findConstant("XEN_SYSCTL_PHYSCAP_gnttab_v1").orElse(0L)
                | c.abi.findConstant("XEN_SYSCTL_PHYSCAP_gnttab_v2").orElse(0L);
        assertThat(caps & gnttab).isEqualTo(gnttab);
        long declared = c.abi.constants().entrySet().stream().filter(k -> k.getKey().startsWith("XEN_SYSCTL_PHYSCAP_")
                && !k.getKey().equals("XEN_SYSCTL_PHYSCAP_MAX")).mapToLong(Map.Entry::getValue).reduce(0, (a, b) -> a | b);
        assertThat(caps & ~declared).as("capabilities the release does not declare").isZero();
        // total_pages at the release's offset (32 in the union up to 4.16, 40 from 4.17)
        assertThat(c.struct("xen_sysctl").leaf(p + "total_pages").read(r.bytes(), 0)).isEqualTo(2L << 20);
        assertThat(r.get(p + "hw_cap[0]")).isNotZero();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void hostOptionsShowInPhysinfoAndUnknownCommandsAreEnosys(String release) throws NativeException {
        SimClient c = new SimClient(SimXen.builder(XenRelease.parse(release)).hap(false).iommu(true).build());
        long caps = c.sysctl("physinfo", Map.of()).get("u.physinfo.capabilities");
        assertThat(caps & c.constant("XEN_SYSCTL_PHYSCAP_hap")).isZero();
        assertThat(caps & c.constant("XEN_SYSCTL_PHYSCAP_directio")).isNotZero();
        SimClient.Outcome unknown = c.sysctl("physinfo", Map.of("cmd", 1));
        assertThat(unknown.errno()).isEqualTo(Errno.ENOSYS);
    }
}
