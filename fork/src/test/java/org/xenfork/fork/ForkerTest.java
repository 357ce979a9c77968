package org.xenfork.fork;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Releases;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.XenException;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.LoggedCall;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;

/**
 * The fork workflow on the simulator: the real privcmd encoding, read by a Xen
 * model with each release's checks. Every path, and a fault at each hypercall
 * of the workflow, after which no domain is leaked and the parent's pause
 * state is as it was.
 *
 * <p>Tests about one behaviour that is the same on every release run on one release, mostly 4.17
 * (Debian 12's, the headers CHeaderOracleTest compiles against); what differs by release takes its
 * releases from {@code org.xenfork.abi.Releases}.
 */
class ForkerTest {
    private SimXen sim;
    private Privcmd privcmd;
    private Hypervisor xen;
    private final List<String> notices = new ArrayList<>();
    private final MapNames names = new MapNames();

    /** Names in a map, with a switch to make xenstore "fail". */
    static final class MapNames implements DomainNames {
        final Map<Integer, String> byId = new TreeMap<>();
        final Map<Integer, Boolean> pvh = new TreeMap<>();
        boolean failAssign;
        RuntimeException bug;
        boolean failRemove;

        @Override
        public Optional<String> name(int domid) {
            return Optional.ofNullable(byId.get(domid));
        }

        @Override
        public void assign(int domid, String name, boolean isPvh) throws IOException {
            if (failAssign) {
                throw new IOException("xenstore said EACCES");
            }
            if (bug != null) {
                throw bug;
            }
            byId.put(domid, name);
            pvh.put(domid, isPvh);
        }

        @Override
        public void remove(int domid) throws IOException {
            if (failRemove) {
                throw new IOException("xenstore said EIO");
            }
            byId.remove(domid);
        }
    }

    private Forker forker(SimXen x) {
        return forker(x, new StopRequest());
    }

    private Forker forker(SimXen x, StopRequest stop) {
        sim = x;
        privcmd = Privcmd.open(new SimulatedSeam(x));
        xen = Hypervisor.open(privcmd, null, null, false);
        return new Forker(xen, names, notices::add, stop);
    }

    private Forker forker(String release) {
        return forker(SimXen.create(XenRelease.parse(release)));
    }

    @AfterEach
    void close() {
        if (xen != null) {
            xen.close();
            privcmd.close();
        }
    }

    private List<Integer> domids() {
        return sim.domains().stream().map(SimDomain::domid).toList();
    }

    private SimDomain dom(int domid) {
        return sim.domain(domid).orElseThrow();
    }

    @Test
    void aStopRequestedInsideAForkFinishesItAndStopsBeforeTheNext() {
        StopRequest stop = new StopRequest();
        Forker f = forker(SimXen.create(XenRelease.parse("4.17")), stop);
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
        int[] creates = {0};
        // the request comes between fork 2's createdomain and its XENMEM_sharing_op_fork, as a signal can
        sim.afterCall(SimCall.named("XEN_DOMCTL_createdomain").and(c -> ++creates[0] == 2), done -> stop.request("a test"));
        List<Integer> handed = new ArrayList<>();
        assertThatThrownBy(() -> f.fork(parent.domid(), 4, ForkOptions.DEFAULT.named("s"), v -> handed.add(v.keep().domid())))
                .isInstanceOfSatisfying(StoppedException.class, e -> {
                    assertThat(e.kept()).containsExactly(2, 3);
                    assertThat(e.rollback()).extracting(Undo::action).containsExactly(Undo.Action.KEEP_PARENT_PAUSED);
                })
                .hasMessage("stopped by a test before fork 3 of 4; the forks made are kept: domains 2, 3; parent 1 stays "
                        + "paused (a parent must be, while it has forks; xenfork unpause 1 once they are destroyed)");
        assertThat(handed).containsExactly(2, 3);
        assertThat(domids()).as("no half-made fork, none after the stop").containsExactly(0, 1, 2, 3);
        for (int d : handed) {
            assertThat(dom(d).parent()).hasValue(parent.domid());
            assertThat(dom(d).isPaused()).as("finished: unpaused").isFalse();
        }
        assertThat(names.byId).containsOnlyKeys(2, 3);
        assertThat(parent.isPaused()).isTrue();
    }

    @Test
    void aStopBeforeTheFirstForkGivesBackThePauseTakenForIt() {
        StopRequest stop = new StopRequest();
        Forker f = forker(SimXen.create(XenRelease.parse("4.17")), stop);
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 1, 65536));
        sim.afterCall(SimCall.named("XEN_DOMCTL_pausedomain", parent.domid()), done -> stop.request("a test"));
        assertThatThrownBy(() -> f.fork(parent.domid(), ForkOptions.DEFAULT))
                .isInstanceOfSatisfying(StoppedException.class, e -> assertThat(e.kept()).isEmpty())
                .hasMessage("stopped by a test before forking domain 1; unpaused parent 1 again");
        assertThat(domids()).containsExactly(0, 1);
        assertThat(parent.isPaused()).isFalse();
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void forksAPausedParentAndUnpausesTheFork(String release) {
        Forker f = forker(release);
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 2, 65536).paused());
        VmFork fork = f.fork(parent.domid(), ForkOptions.DEFAULT).keep();
        SimDomain child = dom(fork.domid());
        assertThat(child.parent()).hasValue(parent.domid());
        assertThat(child.maxVcpus()).isEqualTo(2);
        assertThat(child.emulationFlags()).isEqualTo(parent.emulationFlags());
        assertThat(child.hasHap()).isTrue();
        assertThat(child.hasIommu()).isFalse();
        assertThat(child.controllerPauseCount()).isZero();
        assertThat(child.blockInterrupts()).isFalse();
        assertThat(sim.hvmContext(child.domid())).isEqualTo(sim.hvmContext(parent.domid()));
        assertThat(parent.controllerPauseCount()).isEqualTo(1); // the user's pause, untouched
        assertThat(notices).isEmpty();
        assertThat(fork.parent()).isEqualTo(parent.domid());
        // the hypercalls, in order: libxl_domain_fork_vm's, plus the unpause of xl fork-vm without -p
        List<String> calls = sim.calls().stream().map(LoggedCall::call).map(SimCall::shortName)
                .filter(n -> !n.equals("multicall") && !n.startsWith("XENVER")).toList();
        List<String> expected = new ArrayList<>(List.of("XEN_DOMCTL_getdomaininfo"));
        if (Releases.withGrantOpts().anyMatch(release::equals)) {
            expected.add("XEN_SYSCTL_physinfo"); // grant_opts: the highest grant table version the host offers
        }
        expected.addAll(List.of("XEN_DOMCTL_createdomain", "XENMEM_sharing_op_fork", "XEN_DOMCTL_unpausedomain"));
        assertThat(calls).containsExactlyElementsOf(expected);
    }

    @Test
    void aRunningParentIsPausedAndTheUserIsTold() {
        Forker f = forker("4.17");
        SimDomain parent = sim.addGuest(GuestSpec.pvh("tiny", 1, 4096));
        VmFork fork = f.fork(parent.domid(), ForkOptions.DEFAULT.paused().blockingInterrupts().allowingIommu().named("t"));
        assertThat(notices).singleElement().asString().contains("paused parent " + parent.domid())
                .contains("not paused by the toolstack");
        assertThat(names.pvh.get(fork.domid())).as("libxl type pvh, as the parent").isTrue();
        assertThat(parent.controllerPauseCount()).isEqualTo(1);
        SimDomain child = dom(fork.domid());
        assertThat(child.controllerPauseCount()).isEqualTo(1); // -p
        assertThat(child.blockInterrupts()).isTrue();
        assertThat(child.emulationFlags()).isEqualTo(parent.emulationFlags()); // a PVH parent: LAPIC only
        fork.close();
        assertThat(sim.domain(fork.domid())).isEmpty();
        assertThat(parent.pauseCount()).isEqualTo(1); // Xen's fork pause went with the fork, ours stays
    }

    @Test
    void countMakesNamedForksAndAForkOfAForkWorks() {
        Forker f = forker("4.18");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("debian", 1, 8192).paused());
        List<Integer> seen = new ArrayList<>();
        List<VmFork> forks = f.fork(parent.domid(), 3, ForkOptions.DEFAULT.named("fz"), v -> seen.add(v.domid()));
        assertThat(forks).extracting(VmFork::domid).containsExactlyElementsOf(seen).hasSize(3);
        assertThat(forks).extracting(v -> v.name().orElseThrow()).containsExactly("fz", "fz-2", "fz-3");
        assertThat(names.byId.values()).containsExactly("fz", "fz-2", "fz-3");
        // KF/x's sink: the fuzzing fork is forked from a fork
        VmFork sink = forks.get(0);
        try (VmFork fuzz = f.fork(sink.domid(), ForkOptions.DEFAULT.paused())) {
            assertThat(dom(fuzz.domid()).parent()).hasValue(sink.domid());
            assertThat(notices).anyMatch(n -> n.contains("paused parent " + sink.domid()));
        }
        for (VmFork v : forks) {
            v.close();
        }
        assertThat(domids()).containsExactly(0, parent.domid());
        assertThat(names.byId).isEmpty();
    }

    @Test
    void takenNamesAndUnforkableParentsChangeNothing() {
        Forker f = forker("4.17");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("p", 1, 4096));
        SimDomain pv = sim.addGuest(GuestSpec.pv("pv", 1, 4096).paused());
        SimDomain shadow = sim.addGuest(GuestSpec.hvm("shadow", 1, 4096).withHap(false).paused());
        names.byId.put(parent.domid(), "p");
        names.byId.put(pv.domid(), "busy-2");
        sim.clearCalls();
        assertThatThrownBy(() -> f.fork(parent.domid(), 2, ForkOptions.DEFAULT.named("busy"), v -> { }))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'busy-2' is already used by domain " + pv.domid());
        assertThatThrownBy(() -> f.fork(0, ForkOptions.DEFAULT)).hasMessageContaining("domain 0 cannot be forked");
        assertThatThrownBy(() -> f.fork(pv.domid(), ForkOptions.DEFAULT)).hasMessageContaining("PV guest");
        assertThatThrownBy(() -> f.fork(shadow.domid(), ForkOptions.DEFAULT)).hasMessageContaining("needs HAP");
        assertThatThrownBy(() -> f.fork(77, ForkOptions.DEFAULT)).isInstanceOf(ForkException.class)
                .hasMessageContaining("check the parent failed").hasMessageContaining("ESRCH");
        assertThatThrownBy(() -> ForkOptions.DEFAULT.named("a/b")).hasMessageContaining("not a usable domain name");
        for (String bad : List.of("42", "0x1f", "-x", ".hidden", "a".repeat(65))) {
            assertThatThrownBy(() -> ForkOptions.DEFAULT.named(bad)).as(bad).isInstanceOf(ForkRequestException.class)
                    .hasMessageContaining("start with a letter".isEmpty() ? "" : "a letter");
        }
        assertThatThrownBy(() -> f.fork(parent.domid(), 2, ForkOptions.DEFAULT.named("a".repeat(63)), v -> { }))
                .hasMessageContaining("too long");
        assertThat(sim.calls()).extracting(c -> c.call().shortName()).doesNotContain("XEN_DOMCTL_createdomain",
                "XEN_DOMCTL_pausedomain");
        assertThat(parent.controllerPauseCount()).isZero();
        assertThat(domids()).containsExactly(0, parent.domid(), pv.domid(), shadow.domid());
    }

    /** Each hypercall of the workflow, failed once, for a running and for a paused parent. */
    static Stream<Arguments> faults() {
        List<Arguments> out = new ArrayList<>();
        for (String release : Releases.all().toList()) {
            for (boolean running : List.of(true, false)) {
                for (String call : List.of("XEN_DOMCTL_getdomaininfo", "XEN_DOMCTL_pausedomain", "XEN_SYSCTL_physinfo",
                        "XEN_DOMCTL_createdomain", "XENMEM_sharing_op_fork", "multicall", "XEN_DOMCTL_unpausedomain")) {
                    out.add(Arguments.of(release, running, call));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "Xen {0}, parent running={1}: {2} fails")
    @MethodSource("faults")
    void aFaultAtAnyHypercallLeavesNothingBehind(String release, boolean running, String call) {
        Forker f = forker(release);
        GuestSpec spec = GuestSpec.hvm("parent", 1, 4096);
        SimDomain parent = sim.addGuest(running ? spec : spec.paused());
        List<Integer> before = domids();
        int pausesBefore = parent.controllerPauseCount();
        sim.clearCalls();
        sim.injectFault(SimCall.named(call), Errno.ENOMEM);
        boolean failed;
        try {
            f.fork(parent.domid(), ForkOptions.DEFAULT.named("f")).keep();
            failed = false;
        } catch (ForkException e) {
            failed = true;
            assertThat(e.errno()).isEqualTo(Errno.ENOMEM);
            assertThat(e).hasMessageContaining("ENOMEM");
            if (e.step() == ForkStep.FORK || e.step() == ForkStep.UNPAUSE) {
                assertThat(e.rollback()).first().satisfies(u -> {
                    assertThat(u.action()).isEqualTo(Undo.Action.DESTROY_HALF_MADE_FORK);
                    assertThat(u.succeeded()).isTrue();
                });
                assertThat(e).hasMessageContaining("destroyed the half-made fork " + e.rollback().get(0).id());
            }
        }
        boolean called = sim.calls().stream().anyMatch(c -> SimCall.named(call).test(c.call()));
        assertThat(failed).as("the workflow fails exactly when it issued %s", call).isEqualTo(called);
        if (failed) {
            assertThat(domids()).isEqualTo(before);
            assertThat(parent.controllerPauseCount()).isEqualTo(pausesBefore);
            assertThat(parent.pauseCount()).isEqualTo(pausesBefore); // no fork holds it either
            assertThat(names.byId).isEmpty();
        } else {
            assertThat(domids()).hasSize(before.size() + 1);
        }
    }

    @Test
    void aNamingFailureDestroysTheForkAndAFailedDestroyIsReported() {
        Forker f = forker("4.17");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 4096));
        names.failAssign = true;
        assertThatThrownBy(() -> f.fork(parent.domid(), ForkOptions.DEFAULT.named("x")))
                .isInstanceOfSatisfying(ForkException.class, e -> {
                    assertThat(e.step()).isEqualTo(ForkStep.NAME);
                    assertThat(e.rollback()).extracting(Undo::action, Undo::succeeded).containsExactly(
                            tuple(Undo.Action.DESTROY_HALF_MADE_FORK, true), tuple(Undo.Action.REMOVE_NAME, true),
                            tuple(Undo.Action.UNPAUSE_PARENT, true));
                    assertThat(e.leftAForkBehind()).isFalse();
                    assertThat(e).hasMessageContaining("destroyed the half-made fork")
                            .hasMessageContaining("unpaused parent " + parent.domid() + " again")
                            .hasMessageNotContaining("left behind");
                });
        assertThat(domids()).containsExactly(0, parent.domid());
        assertThat(parent.controllerPauseCount()).isZero();

        names.failAssign = false;
        sim.injectFault(SimCall.named("XENMEM_sharing_op_fork"), Errno.EOPNOTSUPP);
        sim.injectFault(SimCall.named("XEN_DOMCTL_destroydomain"), Errno.EBUSY);
        assertThatThrownBy(() -> f.fork(parent.domid(), ForkOptions.DEFAULT))
                .isInstanceOfSatisfying(ForkException.class, e -> {
                    assertThat(e).hasMessageContaining("forking needs an HVM domain on Intel VT-x with HAP");
                    assertThat(e.leftAForkBehind()).isTrue();
                    Undo destroy = e.rollback().get(0);
                    assertThat(destroy.action()).isEqualTo(Undo.Action.DESTROY_HALF_MADE_FORK);
                    assertThat(destroy.failureCause()).containsInstanceOf(XenException.class);
                    assertThat(e.getSuppressed()).contains(destroy.failure());
                    assertThat(e).hasMessageMatching("(?s).*could not destroy the half-made fork \\d+ .*EBUSY.*"
                            + "destroy it with: xenfork destroy \\d+.*");
                    // The parent was running: unpaused again, but the fork left behind still holds it.
                    assertThat(e.rollback().get(1)).isEqualTo(Undo.done(Undo.Action.UNPAUSE_PARENT, parent.domid()));
                    assertThat(e).hasMessageContaining("unpaused parent " + parent.domid()
                            + " again (the fork left behind still holds it paused until it is destroyed)");
                });
    }

    @Test
    void aBatchStopsAtTheFirstFailureAndKeepsWhatItMade() {
        Forker f = forker("4.17");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 4096));
        sim.injectFault(SimCall.named("XEN_DOMCTL_createdomain").and(new java.util.function.Predicate<>() {
            int seen;

            @Override
            public boolean test(SimCall c) {
                return ++seen == 2;
            }
        }), Errno.ENOMEM);
        List<Integer> made = new ArrayList<>();
        assertThatThrownBy(() -> f.fork(parent.domid(), 3, ForkOptions.DEFAULT, v -> made.add(v.domid())))
                .isInstanceOfSatisfying(ForkException.class, e -> {
                    assertThat(e.step()).isEqualTo(ForkStep.CREATE);
                    assertThat(e.kept()).containsExactlyElementsOf(made).hasSize(1);
                });
        assertThat(domids()).containsExactly(0, parent.domid(), made.get(0));
        assertThat(parent.controllerPauseCount()).isEqualTo(1); // a fork exists: the pause stays, as the notice said
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void resetBringsTheForkBackToItsParent(String release) {
        Forker f = forker(release);
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 64).paused());
        try (VmFork fork = f.fork(parent.domid(), ForkOptions.DEFAULT)) {
            sim.guestAccess(fork.domid(), 3, true);
            sim.guestAccess(fork.domid(), 5, true);
            assertThat(dom(fork.domid()).totPages()).isEqualTo(2);
            fork.reset();
            assertThat(dom(fork.domid()).totPages()).isZero();
            if (Releases.withForkResetFlags().anyMatch(release::equals)) {
                sim.guestAccess(fork.domid(), 3, true);
                fork.reset(true, false); // state only: the page stays
                assertThat(dom(fork.domid()).totPages()).isEqualTo(1);
                fork.reset(false, true);
                assertThat(dom(fork.domid()).totPages()).isZero();
            } else {
                assertThatThrownBy(() -> fork.reset(true, false)).hasMessageContaining("needs Xen 4.17");
            }
            assertThatThrownBy(() -> fork.reset(false, false)).hasMessageContaining("--state, --memory or both");
        }
        assertThat(domids()).containsExactly(0, parent.domid());
    }

    @Test
    void resettingADomainThatIsNoForkSaysSo() {
        Forker f = forker("4.17");
        SimDomain plain = sim.addGuest(GuestSpec.hvm("plain", 1, 64));
        VmFork notAFork = f.attach(plain.domid()).keep();
        assertThatThrownBy(notAFork::reset).isInstanceOfSatisfying(ForkException.class, e -> {
            assertThat(e.step()).isEqualTo(ForkStep.RESET);
            assertThat(e.errno()).isEqualTo(Errno.ENOSYS);
            assertThat(e).hasMessageContaining("not a fork");
        });
        assertThatThrownBy(() -> f.attach(99)).isInstanceOf(ForkException.class).hasMessageContaining("ESRCH");
        assertThatThrownBy(() -> f.attach(0)).hasMessageContaining("domain 0 is not a fork");
    }

    @Test
    void aHypervisorWithoutMemorySharingOrVmxSaysWhatWouldMakeForkingPossible() {
        Forker f = forker(SimXen.builder(XenRelease.parse("4.17")).memSharing(false).build());
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 64).paused());
        assertThatThrownBy(() -> f.fork(parent.domid(), ForkOptions.DEFAULT))
                .hasMessageContaining("fork the parent (XENMEM_sharing_op_fork) failed")
                .hasMessageContaining("ENOSYS").hasMessageContaining("memory sharing is not built into this hypervisor");
        assertThat(domids()).containsExactly(0, parent.domid());
        close();

        Forker amd = forker(SimXen.builder(XenRelease.parse("4.18")).cpuVendor(SimXen.CpuVendor.AMD).build());
        SimDomain p2 = sim.addGuest(GuestSpec.hvm("parent", 1, 64));
        assertThatThrownBy(() -> amd.fork(p2.domid(), ForkOptions.DEFAULT))
                .hasMessageContaining("EOPNOTSUPP").hasMessageContaining("Intel VT-x");
        assertThat(domids()).containsExactly(0, p2.domid());
        assertThat(p2.controllerPauseCount()).isZero(); // it was running: our pause is undone
    }

    @Test
    void aFailedRemovalOfTheNameIsReportedNotHidden() {
        Forker f = forker("4.17");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 64).paused());
        VmFork fork = f.fork(parent.domid(), ForkOptions.DEFAULT.named("n"));
        names.failRemove = true;
        assertThatThrownBy(fork::close).isInstanceOfSatisfying(ForkException.class,
                e -> assertThat(e.step()).isEqualTo(ForkStep.DESTROY));
        assertThat(sim.domain(fork.domid())).isEmpty(); // the domain went; the name is what is left, and said
        assertThat(names.byId.values().stream().collect(Collectors.toList())).containsExactly("n");
    }

    @Test
    void aBugInAStepStillLeavesNothingBehind() {
        Forker f = forker("4.17");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 64));
        names.bug = new IllegalStateException("a bug in a DomainNames");
        assertThatThrownBy(() -> f.fork(parent.domid(), ForkOptions.DEFAULT.named("x"))).isSameAs(names.bug);
        assertThat(domids()).containsExactly(0, parent.domid());
        assertThat(parent.controllerPauseCount()).isZero();
    }

    @Test
    void aParentThatCannotBeUnpausedAgainIsReportedWithWhatToDo() {
        Forker f = forker("4.17");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 64));
        sim.injectFault(SimCall.named("XEN_DOMCTL_createdomain"), Errno.ENOMEM);
        sim.injectFault(SimCall.named("XEN_DOMCTL_unpausedomain", parent.domid()), Errno.EINVAL);
        assertThatThrownBy(() -> f.fork(parent.domid(), ForkOptions.DEFAULT))
                .isInstanceOfSatisfying(ForkException.class, e -> {
                    assertThat(e.rollback()).singleElement().satisfies(u -> {
                        assertThat(u.action()).isEqualTo(Undo.Action.UNPAUSE_PARENT);
                        assertThat(u.succeeded()).isFalse();
                    });
                    assertThat(e).hasMessageContaining("could not unpause parent " + parent.domid())
                            .hasMessageContaining("unpause it with: xenfork unpause " + parent.domid());
                });
    }

    @Test
    void aDestroyThatFailedCanBeTriedAgain() {
        Forker f = forker("4.18");
        SimDomain parent = sim.addGuest(GuestSpec.hvm("parent", 1, 64).paused());
        VmFork fork = f.fork(parent.domid(), ForkOptions.DEFAULT);
        sim.injectFault(SimCall.named("XEN_DOMCTL_destroydomain"), Errno.EBUSY);
        assertThatThrownBy(fork::close).isInstanceOf(ForkException.class).hasMessageContaining("EBUSY");
        assertThat(sim.domain(fork.domid())).isPresent();
        fork.close();
        assertThat(sim.domain(fork.domid())).isEmpty();
        assertThatThrownBy(() -> f.destroy(0)).isInstanceOf(ForkRequestException.class);
    }

    /**
     * VmFork.reset() allocates nothing: after the fork is made, the seam answers
     * in Java, copies included (the simulator's own bookkeeping is not ours to
     * count; LinuxSeam copies with jffi's MemoryIO, which allocates nothing, see
     * the bench module), and the thread's allocation counter must stay under
     * one byte per reset over 20,000 resets.
     */
    @Test
    void resetInALoopAllocatesNothing() throws Exception {
        SimXen x = SimXen.create(XenRelease.parse("4.18"));
        AnswerInJava seam = new AnswerInJava(new SimulatedSeam(x));
        sim = x;
        privcmd = Privcmd.open(seam);
        xen = Hypervisor.open(privcmd, null, null, false);
        Forker f = new Forker(xen, names, notices::add);
        SimDomain parent = x.addGuest(GuestSpec.hvm("parent", 1, 64).paused());
        VmFork fork = f.fork(parent.domid(), ForkOptions.DEFAULT.paused());
        seam.inJava = true;
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long self = Thread.currentThread().getId();
        for (int i = 0; i < 20_000; i++) { // warm up: let the JIT compile the path
            fork.reset();
        }
        long before = threads.getThreadAllocatedBytes(self);
        for (int i = 0; i < 20_000; i++) {
            fork.reset();
        }
        long allocated = threads.getThreadAllocatedBytes(self) - before;
        assertThat(allocated).as("bytes allocated by 20,000 resets").isLessThan(20_000);
        seam.inJava = false;
        fork.close();
    }

    /**
     * Passes calls to the simulator until told to answer itself: hypercalls
     * succeed with 0, copies to and from buffers do nothing (so the multicall
     * entry's result stays the 0 it was sent with).
     */
    static final class AnswerInJava extends org.xenfork.privcmd.ForwardingSeam {
        volatile boolean inJava;

        AnswerInJava(org.xenfork.privcmd.NativeSeam delegate) {
            super(delegate);
        }

        @Override
        public int ioctl(int fd, int request, long argAddress) throws org.xenfork.privcmd.NativeException {
            return inJava ? 0 : super.ioctl(fd, request, argAddress);
        }

        @Override
        public void read(long address, byte[] dst, int dstOffset, int length) {
            if (!inJava) {
                super.read(address, dst, dstOffset, length);
            }
        }

        @Override
        public void write(long address, byte[] src, int srcOffset, int length) {
            if (!inJava) {
                super.write(address, src, srcOffset, length);
            }
        }
    }
}
