package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Releases;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.NativeException;

/** XEN_DOMCTL_* through the seam: header checks, lifecycle, getdomaininfo, max_mem, max_vcpus (xen/common/domctl.c). */
class DomctlTest {

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aWrongInterfaceVersionIsEacces(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        long right = c.constant("XEN_DOMCTL_INTERFACE_VERSION");
        SimClient.Outcome wrong = c.domctl("getdomaininfo", 0, Map.of("interface_version", right - 1));
        assertThat(wrong.errno()).isEqualTo(Errno.EACCES);
        assertThat(c.domctl("getdomaininfo", 0).ok()).isTrue();
        // even for a command the simulator does not know: the version is checked first
        assertThat(c.domctl("settscinfo", 0, Map.of("interface_version", 0)).errno()).isEqualTo(Errno.EACCES);
        SimClient.Outcome sysctl = c.sysctl("physinfo", Map.of("interface_version",
                c.constant("XEN_SYSCTL_INTERFACE_VERSION") + 1));
        assertThat(sysctl.errno()).isEqualTo(Errno.EACCES);
    }

    @Test
    void interfaceVersionsFollowTheRelease() throws NativeException {
        // 4.13/4.14 share DOMCTL 0x12; a 4.14 tool talking to a 4.15 hypervisor is refused
        SimClient xen415 = SimClient.of("4.15");
        assertThat(xen415.domctl("getdomaininfo", 0, Map.of("interface_version", 0x12)).errno())
                .isEqualTo(Errno.EACCES);
        assertThat(xen415.domctl("getdomaininfo", 0, Map.of("interface_version", 0x13)).ok()).isTrue();
        SimClient xen418 = SimClient.of("4.18");
        assertThat(xen418.domctl("getdomaininfo", 0, Map.of("interface_version", 0x15)).errno())
                .isEqualTo(Errno.EACCES);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void createdomainReadsTheReleaseLayoutAndCopiesBackTheNewId(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimClient.Outcome r = c.createHvm(0, 2, Map.of("u.createdomain.handle[0]", 0xab,
                "u.createdomain.handle[15]", 0xcd));
        assertThat(r.errno()).isZero();
        assertThat(r.rc()).isZero();
        int domid = (int) r.get("domain");
        assertThat(domid).isEqualTo(1);
        // the createdomain member comes back as sent (HVM: no oos_off rewrite)
        assertThat(r.get("u.createdomain.max_vcpus")).isEqualTo(2);
        SimDomain d = c.xen.domain(domid).orElseThrow();
        assertThat(d.isHvm()).isTrue();
        assertThat(d.hasHap()).isTrue();
        assertThat(d.maxVcpus()).isEqualTo(2);
        assertThat(d.onlineVcpus()).isZero();
        assertThat(d.controllerPauseCount()).isEqualTo(1);
        assertThat(d.emulationFlags()).isEqualTo(0x3ff);
        assertThat(d.handle().getMostSignificantBits() >>> 56).isEqualTo(0xab);
        assertThat(d.handle().getLeastSignificantBits() & 0xff).isEqualTo(0xcd);
        assertThat(d.totPages()).isZero();
        assertThat(d.maxPages()).isZero();
        // the next one takes the next id
        assertThat(c.createHvm(0, 1, Map.of()).get("domain")).isEqualTo(2);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void createdomainUsesARequestedIdOrEexist(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        assertThat(c.createHvm(0x7fe1, 1, Map.of()).get("domain")).isEqualTo(0x7fe1);
        assertThat(c.createHvm(0x7fe1, 1, Map.of()).errno()).isEqualTo(Errno.EEXIST);
        // a reserved id means "pick one"
        assertThat(c.createHvm(0x7ff0, 1, Map.of()).get("domain")).isEqualTo(1);
        // the rover moves on: freed ids are not reused at once
        assertThat(c.domctl("destroydomain", 1).ok()).isTrue();
        assertThat(c.createHvm(0, 1, Map.of()).get("domain")).isEqualTo(2);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void cdfFlagsBeyondCdfMaxAreEinval(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        long max = c.constant("XEN_DOMCTL_CDF_MAX");
        long base = c.constant("XEN_DOMCTL_CDF_hvm") | c.constant("XEN_DOMCTL_CDF_hap");
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.flags", base | (max << 1))).errno())
                .isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.flags", base)).ok()).isTrue();
    }

    @Test
    void cdfMaxGrewWithTheReleases() throws NativeException {
        // nested_virt (0x40) is unknown to 4.14 and fine on 4.15 (with HAP)
        long flags = 0x1 | 0x2 | 0x40;
        assertThat(SimClient.of("4.14").createHvm(0, 1, Map.of("u.createdomain.flags", flags)).errno())
                .isEqualTo(Errno.EINVAL);
        assertThat(SimClient.of("4.15").createHvm(0, 1, Map.of("u.createdomain.flags", flags)).ok()).isTrue();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withGrantOpts")
    void grantOptsMustCarryAVersionFrom416(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.grant_opts", 0)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.grant_opts", 3)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.grant_opts", 0x12)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.grant_opts", 1)).ok()).isTrue();
    }

    @Test
    void before416ThereIsNoGrantOptsField() throws NativeException {
        SimClient c = SimClient.of("4.15");
        assertThat(c.struct("xen_domctl").field("u.createdomain.grant_opts")).isEmpty();
        // 4.15 puts vmtrace_size where 4.16 has grant_opts: 2 there is a vmtrace request, refused
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.vmtrace_size", 2)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 1, Map.of()).ok()).isTrue();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void emulationFlagsAreCheckedAsEmulationFlagsOk(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        String emu = "u.createdomain.arch.emulation_flags";
        assertThat(c.createHvm(0, 1, Map.of(emu, 0x800)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 1, Map.of(emu, 0x7ff)).errno()).isEqualTo(Errno.EOPNOTSUPP);
        assertThat(c.createHvm(0, 1, Map.of(emu, 0x3fe)).errno()).isEqualTo(Errno.EOPNOTSUPP);
        assertThat(c.createHvm(0, 1, Map.of(emu, 0x1)).ok()).isTrue(); // PVH
        // HVM without USE_PIRQ: refused up to 4.18, user-selectable from 4.19
        boolean pirqOptional = Releases.withOptionalPirqEmulation().anyMatch(release::equals);
        assertThat(c.createHvm(0, 1, Map.of(emu, 0x1ff)).errno()).isEqualTo(pirqOptional ? 0 : Errno.EOPNOTSUPP);
        // a PV domain: no emulation or the PIT only; CDF_oos_off is forced on and copied back
        Map<String, Object> pv = new java.util.HashMap<>(Map.of("u.createdomain.max_vcpus", 1, emu, 0x100));
        if (c.struct("xen_domctl").field("u.createdomain.grant_opts").isPresent()) {
            pv.put("u.createdomain.grant_opts", 1);
        }
        SimClient.Outcome r = c.domctl("createdomain", 0, pv);
        assertThat(r.ok()).isTrue();
        assertThat(r.get("u.createdomain.flags")).isEqualTo(c.constant("XEN_DOMCTL_CDF_oos_off"));
        pv.put(emu, 0x1);
        assertThat(c.domctl("createdomain", 0, pv).errno()).isEqualTo(Errno.EOPNOTSUPP);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void otherCreatedomainChecks(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        String p = "u.createdomain.";
        assertThat(c.createHvm(0, 0, Map.of()).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 129, Map.of()).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.createHvm(0, 1, Map.of(p + "flags", c.constant("XEN_DOMCTL_CDF_hap"))).errno())
                .isEqualTo(Errno.EINVAL); // HAP without HVM
        long iommu = c.constant("XEN_DOMCTL_CDF_hvm") | c.constant("XEN_DOMCTL_CDF_hap")
                | c.constant("XEN_DOMCTL_CDF_iommu");
        assertThat(c.createHvm(0, 1, Map.of(p + "flags", iommu)).errno()).isEqualTo(Errno.EINVAL); // no IOMMU
        assertThat(c.createHvm(0, 1, Map.of(p + "iommu_opts", 1)).errno()).isEqualTo(Errno.EINVAL);
        SimClient withIommu = new SimClient(SimXen.builder(XenRelease.parse(release)).iommu(true).build());
        assertThat(withIommu.createHvm(0, 1, Map.of(p + "flags", iommu)).ok()).isTrue();
        SimClient noHap = new SimClient(SimXen.builder(XenRelease.parse(release)).hap(false).build());
        assertThat(noHap.createHvm(0, 1, Map.of()).errno()).isEqualTo(Errno.EINVAL);
        assertThat(noHap.createHvm(0, 1, Map.of(p + "flags", c.constant("XEN_DOMCTL_CDF_hvm"))).ok()).isTrue();
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withCpupoolId")
    void cpupoolMustExistFrom417(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        assertThat(c.createHvm(0, 1, Map.of("u.createdomain.cpupool_id", 3)).errno()).isEqualTo(Errno.ESRCH);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void pauseAndUnpauseCountTheControllersPauses(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 1, 4096));
        assertThat(g.controllerPauseCount()).isZero();
        assertThat(c.domctl("unpausedomain", g.domid()).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("pausedomain", g.domid()).ok()).isTrue();
        assertThat(c.domctl("pausedomain", g.domid()).ok()).isTrue();
        assertThat(g.controllerPauseCount()).isEqualTo(2);
        assertThat(g.isPaused()).isTrue();
        assertThat(c.domctl("unpausedomain", g.domid()).ok()).isTrue();
        assertThat(c.domctl("unpausedomain", g.domid()).ok()).isTrue();
        assertThat(c.domctl("unpausedomain", g.domid()).errno()).isEqualTo(Errno.EINVAL);
        assertThat(g.pauseCount()).isZero();
        // dom0 cannot pause itself; nobody paused it, so unpausing it is EINVAL
        assertThat(c.domctl("pausedomain", 0).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("unpausedomain", 0).errno()).isEqualTo(Errno.EINVAL);
        // no such domain
        assertThat(c.domctl("pausedomain", 77).errno()).isEqualTo(Errno.ESRCH);
        assertThat(c.domctl("pausedomain", 0x7ff0).errno()).isEqualTo(Errno.ESRCH); // DOMID_SELF is not translated
    }

    @Test
    void theControllerPauseCountStopsAt255() throws NativeException {
        SimClient c = SimClient.of("4.17");
        int domid = (int) c.createHvm(0, 1, Map.of()).get("domain"); // born with one pause
        for (int i = 1; i < 255; i++) {
            assertThat(c.domctl("pausedomain", domid).ok()).isTrue();
        }
        assertThat(c.domctl("pausedomain", domid).errno()).isEqualTo(Errno.EOVERFLOW);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void destroydomainRemovesTheDomain(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 1, 4096));
        assertThat(c.domctl("destroydomain", 0).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("destroydomain", g.domid()).ok()).isTrue();
        assertThat(c.xen.domain(g.domid())).isEmpty();
        assertThat(g.isDying()).isTrue();
        assertThat(c.domctl("destroydomain", g.domid()).errno()).isEqualTo(Errno.ESRCH);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withGetdomaininfoAtOrAbove")
    void getdomaininfoUpTo417ReturnsTheFirstDomainAtOrAboveTheId(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 2, 8192));
        c.domctl("destroydomain", g.domid());
        SimDomain h = c.xen.addGuest(GuestSpec.hvm("h", 1, 4096)); // id 2: id 1 is free now
        SimClient.Outcome r = c.domctl("getdomaininfo", 1);
        assertThat(r.ok()).isTrue();
        assertThat(r.get("domain")).isEqualTo(h.domid()); // rewritten
        assertThat(r.get("u.getdomaininfo.domain")).isEqualTo(h.domid());
        assertThat(c.domctl("getdomaininfo", h.domid() + 1).errno()).isEqualTo(Errno.ESRCH);
        assertThat(c.domctl("getdomaininfo", 0x7ff0).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("getdomaininfo", 0x7fff).errno()).isEqualTo(Errno.EINVAL);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#withExactGetdomaininfo")
    void getdomaininfoFrom418IsExactOrEsrch(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 2, 8192));
        c.domctl("destroydomain", g.domid());
        SimDomain h = c.xen.addGuest(GuestSpec.hvm("h", 1, 4096));
        assertThat(c.domctl("getdomaininfo", 1).errno()).isEqualTo(Errno.ESRCH);
        assertThat(c.domctl("getdomaininfo", 0x7ff0).errno()).isEqualTo(Errno.ESRCH);
        SimClient.Outcome r = c.domctl("getdomaininfo", h.domid());
        assertThat(r.get("domain")).isEqualTo(h.domid());
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void getdomaininfoReportsTheDomain(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 2, 65536));
        SimClient.Outcome r = c.domctl("getdomaininfo", g.domid());
        String i = "u.getdomaininfo.";
        long running = c.constant("XEN_DOMINF_running");
        assertThat(r.get(i + "flags")).isEqualTo(c.constant("XEN_DOMINF_hvm_guest") | c.constant("XEN_DOMINF_hap")
                | running);
        assertThat(r.get(i + "tot_pages")).isEqualTo(16384);
        assertThat(r.get(i + "max_pages")).isEqualTo(16384);
        assertThat(r.get(i + "nr_online_vcpus")).isEqualTo(2);
        assertThat(r.get(i + "max_vcpu_id")).isEqualTo(1);
        assertThat(r.get(i + "arch_config.emulation_flags")).isEqualTo(0x3ff);
        long cpu = r.get(i + "cpu_time");
        assertThat(cpu).isPositive(); // it ran during the hypercalls
        c.domctl("pausedomain", g.domid());
        r = c.domctl("getdomaininfo", g.domid());
        assertThat(r.get(i + "flags")).isEqualTo(c.constant("XEN_DOMINF_hvm_guest") | c.constant("XEN_DOMINF_hap")
                | c.constant("XEN_DOMINF_paused"));
        c.domctl("unpausedomain", g.domid());
        c.xen.setIdle(g.domid(), true);
        r = c.domctl("getdomaininfo", g.domid());
        assertThat(r.get(i + "flags") & (running | c.constant("XEN_DOMINF_blocked")))
                .isEqualTo(c.constant("XEN_DOMINF_blocked"));
        // dom0: PV, running, no hap
        r = c.domctl("getdomaininfo", 0);
        assertThat(r.get(i + "flags")).isEqualTo(running);
        assertThat(r.get(i + "tot_pages")).isEqualTo(524288);
        // a new domain without vCPUs: neither running nor blocked, max_vcpu_id invalid
        int fresh = (int) c.createHvm(0, 1, Map.of()).get("domain");
        r = c.domctl("getdomaininfo", fresh);
        assertThat(r.get(i + "max_vcpu_id")).isEqualTo(0xffffffffL);
        assertThat(r.get(i + "flags")).isEqualTo(c.constant("XEN_DOMINF_hvm_guest") | c.constant("XEN_DOMINF_hap")
                | c.constant("XEN_DOMINF_paused"));
        // the struct is the release's (104 bytes up to 4.15, 112 from 4.16, with gpaddr_bits)
        if (c.struct("xen_domctl").field(i + "gpaddr_bits").isPresent()) {
            assertThat(r.get(i + "gpaddr_bits")).isEqualTo(46);
        }
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void maxMemAndMaxVcpus(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        int domid = (int) c.createHvm(0, 2, Map.of()).get("domain");
        assertThat(c.domctl("max_mem", domid, Map.of("u.max_mem.max_memkb", 1 << 20)).ok()).isTrue();
        SimDomain d = c.xen.domain(domid).orElseThrow();
        assertThat(d.maxPages()).isEqualTo(262144);
        // max_vcpus must repeat createdomain's number
        assertThat(c.domctl("max_vcpus", domid, Map.of("u.max_vcpus.max", 3)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("max_vcpus", 0, Map.of("u.max_vcpus.max", 2)).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("max_vcpus", domid, Map.of("u.max_vcpus.max", 2)).ok()).isTrue();
        SimClient.Outcome r = c.domctl("getdomaininfo", domid);
        assertThat(r.get("u.getdomaininfo.max_vcpu_id")).isEqualTo(1);
        assertThat(r.get("u.getdomaininfo.nr_online_vcpus")).isZero(); // created vCPUs start down
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void otherCommandsAreEnosysAfterTheDomainLookup(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        assertThat(c.domctl("settscinfo", 0).errno()).isEqualTo(Errno.ENOSYS);
        assertThat(c.domctl("settscinfo", 99).errno()).isEqualTo(Errno.ESRCH);
        assertThat(c.domctl("getdomaininfo", 0, Map.of("cmd", 999)).errno()).isEqualTo(Errno.ENOSYS);
    }
}
