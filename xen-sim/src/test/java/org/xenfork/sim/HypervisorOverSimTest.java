package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Releases;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.DomainConfig;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.XenException;

/**
 * privcmd's typed calls ({@link Hypervisor}) against the simulator: the real
 * encoding, privcmd_hypercall, hypercall buffers and copy-back, read by a Xen
 * model with each release's semantics and errnos.
 *
 * <p>Tests about one behaviour that is the same on every release run on one release, mostly 4.17
 * (Debian 12's, the headers CHeaderOracleTest compiles against); what differs by release takes its
 * releases from {@code org.xenfork.abi.Releases}.
 */
class HypervisorOverSimTest {
    /** The XENMEM_FORK_RESET_* bits by Xen's names; the newest release has them (they came in 4.17). */
    private static final Abi NEWEST = Abi.forRelease(XenRelease.SUPPORTED.get(XenRelease.SUPPORTED.size() - 1));
    private static final int FORK_RESET_STATE = (int) NEWEST.constant("XENMEM_FORK_RESET_STATE");
    private static final int FORK_RESET_MEMORY = (int) NEWEST.constant("XENMEM_FORK_RESET_MEMORY");

    record Machine(SimXen sim, SimulatedSeam seam, Privcmd privcmd, Hypervisor xen) implements AutoCloseable {
        static Machine of(SimXen sim, XenRelease forced) {
            SimulatedSeam seam = new SimulatedSeam(sim);
            Privcmd p = Privcmd.open(seam);
            return new Machine(sim, seam, p, Hypervisor.open(p, forced, null, false));
        }

        static Machine of(String release) {
            return of(SimXen.create(XenRelease.parse(release)), null);
        }

        @Override
        public void close() {
            xen.close();
            privcmd.close();
        }
    }

    /** XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap of the release. */
    private static long hvmHap(Abi abi) {
        return abi.constant("XEN_DOMCTL_CDF_hvm") | abi.constant("XEN_DOMCTL_CDF_hap");
    }

    /** Whether the release's xen_domctl_createdomain has grant_opts (the grant table version, 4.16 on). */
    private static boolean hasGrantOpts(Abi abi) {
        return abi.struct("xen_domctl_createdomain").field("grant_opts").isPresent();
    }

    /** What a fork of {@code parent} is created with (as KF/x and the posted xl fork-vm do). */
    private static DomainConfig forkOf(Hypervisor xen, DomainInfo parent) {
        return new DomainConfig(0, null, hvmHap(xen.abi()), 0, parent.maxVcpus(), 1023, 32, 1024,
                hasGrantOpts(xen.abi()) ? 2 : 0, 0, 0, parent.emulationFlags(), 0);
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void detectsTheReleaseAndListsDomains(String release) {
        try (Machine m = Machine.of(release)) {
            assertThat(m.xen().release()).isEqualTo(XenRelease.parse(release));
            m.sim().addGuest(GuestSpec.hvm("a", 2, 65536));
            m.sim().addGuest(GuestSpec.pvh("b", 1, 32768).paused());
            List<DomainInfo> all = m.xen().domains();
            assertThat(all).extracting(DomainInfo::domid).containsExactly(0, 1, 2);
            DomainInfo a = all.get(1);
            assertThat(a.memoryKb()).isEqualTo(65536);
            assertThat(a.maxVcpus()).isEqualTo(2);
            assertThat(a.has(DomainFlag.HVM_GUEST)).isTrue();
            assertThat(all.get(2).has(DomainFlag.PAUSED)).isTrue();
            assertThat(m.xen().domainInfo(2).domid()).isEqualTo(2);
        }
    }

    @Test
    void domainListsLongerThanOneBatchAreComplete() {
        try (Machine m = Machine.of("4.17")) {
            for (int i = 0; i < 150; i++) {
                m.sim().addGuest(GuestSpec.pv("g" + i, 1, 4096));
            }
            assertThat(m.xen().domains()).hasSize(151).extracting(DomainInfo::domid).doesNotHaveDuplicates();
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void domainInfoIsExactlyTheAskedDomainOnEveryRelease(String release) {
        // Up to 4.17 Xen answers with the next domain at or above the id; the typed call must not.
        try (Machine m = Machine.of(release)) {
            m.sim().addGuest(GuestSpec.hvm("a", 1, 4096));
            m.sim().addGuest(GuestSpec.hvm("b", 1, 4096));
            m.xen().destroyDomain(1);
            assertThatThrownBy(() -> m.xen().domainInfo(1)).isInstanceOfSatisfying(XenException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.ESRCH));
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void createPauseUnpauseDestroy(String release) {
        try (Machine m = Machine.of(release)) {
            Abi abi = m.xen().abi();
            long emulation = abi.constant("XEN_X86_EMU_ALL") & ~abi.constant("XEN_X86_EMU_VPCI"); // xl's HVM default
            DomainConfig c = new DomainConfig(0, new byte[16], hvmHap(abi), 0, 2, 1023, 32,
                    1024, hasGrantOpts(abi) ? 1 : 0, 0, 0, emulation, 0);
            int d = m.xen().createDomain(0, c);
            assertThat(d).isPositive();
            DomainInfo info = m.xen().domainInfo(d);
            assertThat(info.has(DomainFlag.PAUSED)).as("born paused by the controller").isTrue();
            assertThat(info.emulationFlags()).isEqualTo(emulation);
            m.xen().setMaxMem(d, 65536);
            m.xen().unpauseDomain(d);
            assertThat(m.sim().domain(d).orElseThrow().isPaused()).isFalse();
            m.xen().pauseDomain(d);
            assertThat(m.sim().domain(d).orElseThrow().isPaused()).isTrue();
            m.xen().destroyDomain(d);
            assertThat(m.sim().domain(d)).isEmpty();
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#withGrantOpts")
    void grantVersionZeroIsRefusedFrom416(String release) {
        try (Machine m = Machine.of(release)) {
            DomainConfig c = new DomainConfig(0, null, hvmHap(m.xen().abi()), 0, 1, 1023, 32, 1024, 0, 0, 0,
                    0x3ff, 0);
            assertThatThrownBy(() -> m.xen().createDomain(0, c)).isInstanceOfSatisfying(XenException.class, e -> {
                assertThat(e.call()).isEqualTo("XEN_DOMCTL_createdomain");
                assertThat(e.errno()).isEqualTo(Errno.EINVAL);
            });
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#withoutGrantOpts")
    void fieldsTheReleaseLacksMustStayZero(String release) {
        try (Machine m = Machine.of(release)) {
            DomainConfig c = new DomainConfig(0, null, hvmHap(m.xen().abi()), 0, 1, 1023, 32, 1024, 2, 0, 0, 0x3ff, 0);
            assertThatThrownBy(() -> m.xen().createDomain(0, c)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("grant_opts does not exist in Xen " + release);
        }
    }

    @Test
    void aWrongInterfaceVersionIsEaccesWithAHint() {
        // The hypervisor is 4.18; --xen 4.17 makes privcmd speak domctl version 0x15 to it.
        try (Machine m = Machine.of(SimXen.create(XenRelease.parse("4.18")), XenRelease.parse("4.17"))) {
            assertThatThrownBy(() -> m.xen().pauseDomain(0)).isInstanceOfSatisfying(XenException.class, e -> {
                assertThat(e.errno()).isEqualTo(Errno.EACCES);
                assertThat(e.getMessage()).contains("interface version 0x15").contains("XENVER_version says 4.18")
                        .contains("--xen");
            });
        }
    }

    @Test
    void aForcedReleaseIsUsedAndTheDetectedOneKept() {
        try (Machine m = Machine.of(SimXen.create(XenRelease.parse("4.17")), XenRelease.parse("4.16"))) {
            assertThat(m.xen().release()).isEqualTo(XenRelease.parse("4.16"));
            assertThat(m.xen().detectedRelease()).isEqualTo(XenRelease.parse("4.17"));
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void hvmContextWholeAndPartial(String release) {
        try (Machine m = Machine.of(release)) {
            SimDomain g = m.sim().addGuest(GuestSpec.hvm("g", 2, 65536).paused());
            byte[] ctx = m.xen().hvmContext(g.domid());
            assertThat(ctx).isEqualTo(m.sim().hvmContext(g.domid()));
            byte[] cpu1 = m.xen().hvmContextPartial(g.domid(), 2, 1); // HVM_SAVE_CODE(CPU), vCPU 1
            assertThat(cpu1).hasSize(1032);
            m.xen().setHvmContext(g.domid(), ctx);
            assertThatThrownBy(() -> m.xen().hvmContext(0)).isInstanceOfSatisfying(XenException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL)); // dom0 is the caller and PV
        }
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void forkAndResetWithEachReleasesFlags(String release) {
        try (Machine m = Machine.of(release)) {
            SimDomain parent = m.sim().addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
            DomainInfo p = m.xen().domainInfo(parent.domid());
            int child = m.xen().createDomain(0, forkOf(m.xen(), p));
            m.xen().fork(parent.domid(), child, 0);
            assertThat(m.sim().domain(child).orElseThrow().parent()).hasValue(parent.domid());
            boolean withFlags = m.xen().abi().findConstant("XENMEM_FORK_RESET_STATE").isPresent();
            m.xen().forkReset(child, withFlags ? FORK_RESET_STATE | FORK_RESET_MEMORY : 0);
            if (withFlags) {
                assertThatThrownBy(() -> m.xen().forkReset(child, 0)).isInstanceOfSatisfying(XenException.class,
                        e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL));
            } else {
                assertThatThrownBy(() -> m.xen().forkReset(child, FORK_RESET_STATE)).isInstanceOfSatisfying(XenException.class,
                        e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL));
            }
            // From 4.16 memory_op goes through a one-entry multicall, as libxc does.
            List<String> names = new ArrayList<>();
            m.sim().calls().forEach(c -> names.add(c.call().hypercallName()));
            assertThat(names.contains("multicall")).isEqualTo(Releases.withMemoryOpInMulticall().anyMatch(release::equals));
            m.xen().destroyDomain(child);
        }
    }

    @Test
    void forkErrorsNameTheCauseWhenSharingIsMissingOrTheCpuIsAmd() {
        try (Machine m = Machine.of(SimXen.builder(XenRelease.parse("4.17")).memSharing(false).build(), null)) {
            SimDomain parent = m.sim().addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
            int child = m.xen().createDomain(0, forkOf(m.xen(), m.xen().domainInfo(parent.domid())));
            assertThatThrownBy(() -> m.xen().fork(parent.domid(), child, 0)).isInstanceOfSatisfying(XenException.class, e -> {
                assertThat(e.errno()).isEqualTo(Errno.ENOSYS);
                assertThat(e.getMessage()).contains("XENMEM_sharing_op_fork").contains("not built into this hypervisor");
            });
        }
        try (Machine m = Machine.of(SimXen.builder(XenRelease.parse("4.17")).cpuVendor(SimXen.CpuVendor.AMD).build(), null)) {
            SimDomain parent = m.sim().addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
            int child = m.xen().createDomain(0, forkOf(m.xen(), m.xen().domainInfo(parent.domid())));
            assertThatThrownBy(() -> m.xen().fork(parent.domid(), child, 0)).isInstanceOfSatisfying(XenException.class, e -> {
                assertThat(e.errno()).isEqualTo(Errno.EOPNOTSUPP);
                assertThat(e.getMessage()).contains("Intel VT-x");
            });
        }
    }

    @Test
    void anInjectedFaultSurfacesAsTheCallsErrno() {
        try (Machine m = Machine.of("4.17")) {
            m.sim().addGuest(GuestSpec.hvm("g", 1, 4096));
            m.sim().injectFault(SimCall.named("XEN_DOMCTL_pausedomain", 1), Errno.EBUSY);
            assertThatThrownBy(() -> m.xen().pauseDomain(1)).isInstanceOfSatisfying(XenException.class, e -> {
                assertThat(e.call()).isEqualTo("XEN_DOMCTL_pausedomain");
                assertThat(e.domid()).isEqualTo(1);
                assertThat(e.errno()).isEqualTo(Errno.EBUSY);
            });
            m.xen().pauseDomain(1); // one-shot
        }
    }

    @Test
    void closingReleasesEveryFdAndMapping() {
        SimXen sim = SimXen.create(XenRelease.parse("4.17"));
        SimulatedSeam seam = new SimulatedSeam(sim);
        Privcmd p = Privcmd.open(seam);
        Hypervisor xen = Hypervisor.open(p, null, null, false);
        xen.domains();
        xen.close();
        p.close();
        assertThat(seam.openFileCount()).isZero();
        assertThat(seam.mappingCount()).isZero();
    }

    @Test
    void withoutTheHypercallDeviceBuffersFallBackToLockedAnonymousMemory() {
        SimXen sim = SimXen.create(XenRelease.parse("4.17"));
        try (Privcmd p = Privcmd.open(SimulatedSeam.withoutHypercallDevice(sim));
             Hypervisor xen = Hypervisor.open(p, null, null, false)) {
            assertThat(p.buffers().usesHypercallDevice()).isFalse();
            assertThat(xen.domains()).hasSize(1);
        }
    }

    @Test
    void domainIdsAndFlagsOutsideTheirFieldsAreRefusedNotTruncated() {
        try (Machine m = Machine.of("4.17")) {
            m.sim().addGuest(GuestSpec.hvm("g", 1, 4096));
            assertThatThrownBy(() -> m.xen().destroyDomain(65537)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("out of range");
            assertThatThrownBy(() -> m.xen().pauseDomain(0x7ff0)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> m.xen().fork(1, 2, 0x10000)).isInstanceOf(IllegalArgumentException.class);
            assertThat(m.sim().domain(1)).isPresent();
        }
    }

    @Test
    void forkResetRetriesEagainFrom418() {
        try (Machine m = Machine.of("4.18")) {
            SimDomain parent = m.sim().addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
            int child = m.xen().createDomain(0, forkOf(m.xen(), m.xen().domainInfo(parent.domid())));
            m.xen().fork(parent.domid(), child, 0);
            m.sim().injectFault(SimCall.named("XENMEM_sharing_op_fork_reset", child), Errno.EAGAIN, 3);
            m.xen().forkReset(child, FORK_RESET_STATE | FORK_RESET_MEMORY);
            long resets = m.sim().calls().stream().filter(c -> c.call().shortName().equals("XENMEM_sharing_op_fork_reset")).count();
            assertThat(resets).isEqualTo(4);
            m.sim().injectFault(SimCall.named("XENMEM_sharing_op_fork_reset", child), Errno.EAGAIN, Hypervisor.FORK_RESET_ATTEMPTS);
            assertThatThrownBy(() -> m.xen().forkReset(child, FORK_RESET_STATE)).isInstanceOfSatisfying(XenException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.EAGAIN));
        }
    }
}
