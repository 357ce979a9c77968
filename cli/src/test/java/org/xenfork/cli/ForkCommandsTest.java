package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.XenRelease;
import org.xenfork.cli.CommandRunner.Run;
import org.xenfork.privcmd.Errno;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;

/** {@code fork-vm}, {@code fork-reset}, {@code fork-launch-dm} and {@code demo} end to end on {@code --backend sim}. */
class ForkCommandsTest extends CommandRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The machine of the last run, again: commands after the first act on what it left. */
    private Run again(String... args) {
        SimXen same = sim;
        return xenfork(r -> same, args);
    }

    /** Domain-0, "parent" (1, HVM, paused) and "web" (2, HVM, running). */
    private static SimXen machine(XenRelease release) {
        SimXen x = SimXen.create(release);
        x.addGuest(GuestSpec.hvm("parent", 2, 65536).paused());
        x.addGuest(GuestSpec.hvm("web", 1, 65536));
        return x;
    }

    private List<Integer> domids() {
        return sim.domains().stream().map(SimDomain::domid).toList();
    }

    @Test
    void forkVmPrintsOnlyTheDomidOnStdout() {
        Run r = xenfork(ForkCommandsTest::machine, "--backend", "sim", "fork-vm", "1");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("3\n");
        assertThat(r.err()).isEmpty();
        SimDomain fork = sim.domain(3).orElseThrow();
        assertThat(fork.parent()).hasValue(1);
        assertThat(fork.isPaused()).isFalse();
    }

    @Test
    void countNameAndJsonByParentName() throws IOException {
        Run r = xenfork(ForkCommandsTest::machine, "--backend", "sim", "--json", "fork-vm", "-p", "--block-interrupts",
                "--count", "3", "--name", "fz", "web");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode arr = JSON.readTree(r.out());
        assertThat(arr).hasSize(3);
        assertThat(arr.get(0).get("domid").asInt()).isEqualTo(3);
        assertThat(arr.get(2).get("name").asText()).isEqualTo("fz-3");
        assertThat(arr.get(1).get("parent").asInt()).isEqualTo(2);
        assertThat(r.err()).contains("paused parent 2: it was not paused by the toolstack")
                .contains("fork 3/3: domain 5 (fz-3)");
        for (int d = 3; d <= 5; d++) {
            SimDomain f = sim.domain(d).orElseThrow();
            assertThat(f.isPaused()).isTrue();
            assertThat(f.blockInterrupts()).isTrue();
        }
        assertThat(sim.name(4)).contains("fz-2");

        Run taken = again("--backend", "sim", "fork-vm", "--name", "fz-2", "1");
        assertThat(taken.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(taken.err()).contains("'fz-2' is already used by domain 4");

        // reset and destroy by name
        Run reset = again("--backend", "sim", "fork-reset", "fz-2");
        assertThat(reset.code()).as(reset.err()).isZero();
        assertThat(reset.err()).contains("fork 4 reset (state and memory)");
        Run gone = again("--backend", "sim", "destroy", "fz");
        assertThat(gone.code()).as(gone.err()).isZero();
        assertThat(domids()).containsExactly(0, 1, 2, 4, 5);
    }

    @Test
    void aFailedForkExitsOneNamingStepAndErrnoAndLeavesNothing() {
        Run r = xenfork(x -> {
            SimXen m = machine(x);
            m.injectFault(SimCall.named("XENMEM_sharing_op_fork"), Errno.ENOMEM);
            return m;
        }, "--backend", "sim", "fork-vm", "2");
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("fork the parent (XENMEM_sharing_op_fork) failed")
                .contains("XENMEM_sharing_op_fork (domain 3): ENOMEM (12)")
                .contains("destroyed the half-made fork 3").contains("unpaused parent 2 again");
        assertThat(domids()).containsExactly(0, 1, 2);
        assertThat(sim.domain(2).orElseThrow().isPaused()).isFalse();
    }

    @Test
    void noMemorySharingSaysWhy() {
        Run r = xenfork(x -> {
            SimXen m = SimXen.builder(x).memSharing(false).build();
            m.addGuest(GuestSpec.hvm("parent", 1, 4096).paused());
            return m;
        }, "--backend", "sim", "fork-vm", "1");
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.err()).contains("ENOSYS (38)").contains("memory sharing is not built into this hypervisor");
        assertThat(domids()).containsExactly(0, 1);
    }

    @Test
    void aBatchThatFailsHalfwayKeepsAndPrintsWhatItMade() {
        Run r = xenfork(x -> {
            SimXen m = machine(x);
            m.injectFault(SimCall.named("XEN_DOMCTL_createdomain").and(c -> m.domains().size() == 4), Errno.ENOMEM);
            return m;
        }, "--backend", "sim", "fork-vm", "--count", "3", "1");
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.out()).isEqualTo("3\n");
        assertThat(r.err()).contains("1 of 3 forks were made and are kept").contains("create the fork's domain failed");
        assertThat(domids()).containsExactly(0, 1, 2, 3);
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void dryRunPrintsTheWholeSequenceAndChangesNothing(String release) {
        Run r = xenfork(ForkCommandsTest::machine, "--backend", "sim", "--xen", release, "--dry-run", "fork-vm",
                "--name", "f", "2");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        String e = r.err();
        assertThat(e).contains("XEN_DOMCTL_getdomaininfo -> 0")
                .contains("XEN_DOMCTL_pausedomain (dry run: not issued)")
                .contains("XEN_DOMCTL_createdomain (dry run: not issued)").contains("u.createdomain.flags=0xb")
                .contains("XENMEM_sharing_op_fork (dry run: not issued)").contains("u.fork.parent_domain=0x2")
                .contains("XEN_DOMCTL_unpausedomain (dry run: not issued)")
                .contains("would name the fork 'f'").contains("domain=0 where the fork's id would be");
        assertThat(e.indexOf("pausedomain")).isLessThan(e.indexOf("createdomain"));
        assertThat(e.indexOf("createdomain")).isLessThan(e.indexOf("XENMEM_sharing_op_fork"));
        assertThat(domids()).containsExactly(0, 1, 2);
        assertThat(sim.domain(2).orElseThrow().isPaused()).isFalse();
    }

    @Test
    void resetFlagRulesPerRelease() {
        Run old = xenfork(ForkCommandsTest::machine, "--backend", "sim", "--xen", "4.16", "fork-vm", "1");
        assertThat(old.code()).as(old.err()).isZero();
        Run stateOnly = again("--backend", "sim", "--xen", "4.16", "fork-reset", "--state", "3");
        assertThat(stateOnly.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(stateOnly.err()).contains("always resets state and memory together").contains("4.17");
        Run both = again("--backend", "sim", "--xen", "4.16", "--trace", "fork-reset", "3");
        assertThat(both.code()).as(both.err()).isZero();
        assertThat(both.err()).contains("u.fork.flags=0x0").contains("the only reset Xen 4.16 has");

        xenfork(ForkCommandsTest::machine, "--backend", "sim", "--xen", "4.18", "fork-vm", "1");
        Run memory = again("--backend", "sim", "--xen", "4.18", "--trace", "fork-reset", "--memory", "3");
        assertThat(memory.code()).as(memory.err()).isZero();
        assertThat(memory.err()).contains("u.fork.flags=0x8").contains("fork 3 reset (memory)");

        Run notAFork = again("--backend", "sim", "fork-reset", "2");
        assertThat(notAFork.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(notAFork.err()).contains("ENOSYS").contains("not a fork");
    }

    @Test
    void badForkRequestsAreRefusedBeforeAnythingOpens() {
        Run stray = xenfork(ForkCommandsTest::machine, "--backend", "sim", "fork-vm", "-Q", "s", "1");
        assertThat(stray.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(stray.err()).contains("need --launch-dm yes|late");
        Run zero = xenfork(ForkCommandsTest::machine, "--backend", "sim", "fork-vm", "--count", "0", "1");
        assertThat(zero.err()).contains("--count must be 1 to 32751");
        Run dom0 = xenfork(ForkCommandsTest::machine, "--backend", "sim", "fork-vm", "0");
        assertThat(dom0.code()).isEqualTo(Main.EXIT_USAGE);
        Run badName = xenfork(ForkCommandsTest::machine, "--backend", "sim", "fork-vm", "--name", "x y", "1");
        assertThat(badName.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(badName.err()).contains("--name: 'x y' is not a usable domain name");
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void demoForksResetsAndCleansUp(String release) {
        Run r = xenfork(SimXen::create, "demo", "--xen", release);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("XEN_DOMCTL_createdomain -> 0").contains("XENMEM_sharing_op_fork -> 0")
                .contains("XENMEM_sharing_op_fork_reset -> 0").contains("XEN_DOMCTL_destroydomain -> 0")
                .contains("Nothing is left behind");
        assertThat(domids()).containsExactly(0, 1);
    }

    @Test
    void aDemoThatGoesWrongFails() {
        Run r = xenfork(x -> {
            SimXen m = SimXen.create(x);
            m.injectFault(SimCall.named("XENMEM_sharing_op_fork_reset"), Errno.ENOMEM);
            return m;
        }, "demo");
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.err()).contains("reset the fork (XENMEM_sharing_op_fork_reset) failed").contains("ENOMEM");
        assertThat(domids()).as("the demo's fork is destroyed even so").containsExactly(0, 1);
    }

    @Test
    void badIdsAreUsageErrorsBeforeAnyDeviceIsOpened() {
        // no --backend: the real privcmd, which this machine may not have; exit 2 must come first
        for (String[] args : List.of(new String[] {"fork-vm", "0"}, new String[] {"fork-reset", "32752"},
                new String[] {"destroy", "-1"}, new String[] {"pause", "0x"})) {
            Run r = xenfork(ForkCommandsTest::machine, args);
            assertThat(r.code()).as(String.join(" ", args)).isEqualTo(Main.EXIT_USAGE);
        }
    }

    @Test
    void aHalfwayBatchStillPrintsItsJsonArray() throws IOException {
        Run r = xenfork(x -> {
            SimXen m = machine(x);
            m.injectFault(SimCall.named("XEN_DOMCTL_createdomain").and(c -> m.domains().size() == 5), Errno.ENOSPC);
            return m;
        }, "--backend", "sim", "--json", "fork-vm", "--count", "4", "1");
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        JsonNode arr = JSON.readTree(r.out());
        assertThat(arr).hasSize(2);
        assertThat(arr.get(1).get("domid").asInt()).isEqualTo(4);
        assertThat(r.err()).contains("2 of 4 forks were made and are kept");
    }

    @Test
    void twoDomainsWithOneNameAreNotGuessedBetween() {
        Run r = xenfork(x -> {
            SimXen m = machine(x);
            m.rename(2, "parent");
            return m;
        }, "--backend", "sim", "destroy", "parent");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("domains 1 and 2 are both named 'parent'");
        assertThat(domids()).containsExactly(0, 1, 2);
    }
}
