package org.xenfork.fork;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.xenfork.abi.XenRelease;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.LoggedCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;

/** {@link HvmContextLoader} against the simulator: what it refuses reaches no hypercall that changes the domain. */
class HvmContextLoaderTest {
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");

    private final SimXen sim = SimXen.create(XEN_4_17);
    private final Privcmd privcmd = Privcmd.open(new SimulatedSeam(sim));
    private final Hypervisor xen = Hypervisor.open(privcmd, null, null, false);

    @AfterEach
    void close() {
        xen.close();
        privcmd.close();
    }

    private List<String> calls() {
        return sim.calls().stream().map(LoggedCall::call).map(c -> c.shortName()).toList();
    }

    @Test
    void aContextThatFitsIsLoaded() throws HvmContextException {
        SimDomain two = sim.addGuest(GuestSpec.hvm("two", 2, 4096).paused());
        HvmContext edited = HvmContext.parse(sim.hvmContext(two.domid()), XEN_4_17)
                .withField("CPU", 1, "rip", BigInteger.valueOf(0x7c00));
        assertThat(sim.hvmContext(two.domid())).isNotEqualTo(edited.serialise());
        sim.clearCalls();
        HvmContextLoader.load(xen, two.domid(), edited);
        assertThat(sim.hvmContext(two.domid())).isEqualTo(edited.serialise());
        assertThat(calls()).containsExactly("XEN_DOMCTL_getdomaininfo", "XEN_DOMCTL_sethvmcontext");
    }

    /** Xen would pause the domain and refuse the stream (EINVAL); the loader refuses it before. */
    @Test
    void aVcpuTheDomainDoesNotHaveIsRefusedBeforeTheLoad() throws HvmContextException {
        SimDomain two = sim.addGuest(GuestSpec.hvm("two", 2, 4096).paused());
        SimDomain one = sim.addGuest(GuestSpec.hvm("one", 1, 4096).paused());
        byte[] before = sim.hvmContext(one.domid());
        HvmContext twoVcpus = HvmContext.parse(sim.hvmContext(two.domid()), XEN_4_17);
        sim.clearCalls();
        assertThatThrownBy(() -> HvmContextLoader.load(xen, one.domid(), twoVcpus))
                .isInstanceOf(HvmContextException.class)
                .hasMessageContaining("instance 1").hasMessageContaining("the domain has vCPUs 0 to 0");
        assertThat(calls()).containsExactly("XEN_DOMCTL_getdomaininfo");
        assertThat(sim.hvmContext(one.domid())).isEqualTo(before);
        assertThat(one.onlineVcpus()).isEqualTo(1);
    }

    @Test
    void aRecordTypeTheReleaseLacksIsRefusedBeforeAnyCall() throws HvmContextException {
        SimDomain one = sim.addGuest(GuestSpec.hvm("one", 1, 4096).paused());
        HvmContext unknown = HvmContext.builder(XEN_4_17).record(1, 0, HvmContext.parse(sim.hvmContext(one.domid()),
                XEN_4_17).records().get(0).body()).record(25, 0, new byte[8]).build();
        sim.clearCalls();
        assertThatThrownBy(() -> HvmContextLoader.load(xen, one.domid(), unknown))
                .isInstanceOf(HvmContextException.class).hasMessageContaining("typecode 25");
        assertThat(calls()).isEmpty();
    }

    @Test
    void aContextReadForAnotherReleaseIsRefused() throws HvmContextException {
        SimDomain one = sim.addGuest(GuestSpec.hvm("one", 1, 4096).paused());
        HvmContext for421 = HvmContext.parse(sim.hvmContext(one.domid()), XenRelease.parse("4.21"));
        sim.clearCalls();
        assertThatThrownBy(() -> HvmContextLoader.load(xen, one.domid(), for421))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("an HVM context read for Xen 4.21 cannot be loaded into Xen 4.17: read it for 4.17");
        assertThat(calls()).isEmpty();
    }
}
