package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Evtchn;
import org.xenfork.privcmd.ForwardingSeam;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.XenException;

/**
 * privcmd's {@link Evtchn} over the simulator: Xen's rules for binding (xen/common/event_channel.c)
 * and the evtchn driver's for delivering (drivers/xen/evtchn.c), as a vm_event monitor meets them
 * with a port Xen allocated for itself in the monitored domain.
 */
class EvtchnTest {
    private final SimXen xen = SimXen.create(XenRelease.parse("4.17"));
    private final SimulatedSeam simulated = new SimulatedSeam(xen);
    private final NativeSeam seam = nonBlockingOnly(simulated);
    private final int guest = xen.addGuest(GuestSpec.hvm("guest", 1, 4096)).domid();
    /** The Xen-side ports dom0 notified, in order. */
    private final List<Integer> notified = new CopyOnWriteArrayList<>();

    /**
     * The simulator's seam, refusing a blocking open of the device: without O_NONBLOCK a read of an
     * empty ring would wait for ever, and a test should fail, not hang.
     */
    private static NativeSeam nonBlockingOnly(SimulatedSeam seam) {
        return new ForwardingSeam(seam) {
            @Override
            public int open(String path, int flags) throws NativeException {
                if (path.equals(Linux.EVTCHN_DEVICE)) {
                    assertThat(flags & Linux.O_NONBLOCK).as("O_NONBLOCK in the flags of open(%s)", path)
                            .isEqualTo(Linux.O_NONBLOCK);
                }
                return super.open(path, flags);
            }
        };
    }

    private static int errno(Runnable call) {
        try {
            call.run();
        } catch (XenException e) {
            return e.errno();
        }
        throw new AssertionError("expected a XenException");
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void aXenNotificationIsDeliveredOnceAndNotAgainUntilUnmasked(String release) {
        SimXen sim = SimXen.create(XenRelease.parse(release));
        int domid = sim.addGuest(GuestSpec.hvm("g", 1, 4096)).domid();
        int xenPort = sim.allocUnboundXenEventChannel(domid, notified::add);
        assertThat(sim.eventChannel(domid, xenPort)).contains(
                new SimEventChannel(domid, xenPort, SimEventChannel.State.UNBOUND, 0, -1, false, false, true));
        try (Evtchn evtchn = Evtchn.open(nonBlockingOnly(new SimulatedSeam(sim)))) {
            int local = evtchn.bindInterdomain(domid, xenPort);
            assertThat(sim.eventChannel(domid, xenPort).orElseThrow())
                    .extracting(SimEventChannel::state, SimEventChannel::remoteDomid, SimEventChannel::remotePort)
                    .containsExactly(SimEventChannel.State.INTERDOMAIN, 0, local);
            // Xen sets a new binding pending "conservatively": it is delivered once, with nothing behind it.
            assertThat(evtchn.pending()).containsExactly(local);
            assertThat(evtchn.pending()).isEmpty();

            // Masked since its delivery: two notifications stay one pending bit in Xen, not in the ring.
            sim.notifyViaXenEventChannel(domid, xenPort);
            sim.notifyViaXenEventChannel(domid, xenPort);
            assertThat(evtchn.pending()).isEmpty();
            assertThat(sim.eventChannel(0, local).orElseThrow())
                    .extracting(SimEventChannel::pending, SimEventChannel::masked).containsExactly(true, true);
            evtchn.unmask(local);
            assertThat(evtchn.pending()).as("delivered at the unmask, once").containsExactly(local);
            evtchn.unmask(local);
            assertThat(evtchn.pending()).as("nothing came meanwhile").isEmpty();
            sim.notifyViaXenEventChannel(domid, xenPort);
            assertThat(evtchn.pending()).containsExactly(local);

            // The other way: dom0 notifies, Xen's notification function runs with its own port.
            evtchn.notifyRemote(local);
            assertThat(notified).containsExactly(xenPort);
        }
    }

    @Test
    void unbindStopsDeliveryAndLeavesTheXenPortToBindAgain() {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        try (Evtchn evtchn = Evtchn.open(seam)) {
            int local = evtchn.bindInterdomain(guest, xenPort);
            assertThat(evtchn.pending()).containsExactly(local);
            evtchn.unmask(local);
            evtchn.unbind(local);
            assertThat(xen.eventChannel(0, local)).as("dom0's port is closed").isEmpty();
            assertThat(xen.eventChannel(guest, xenPort).orElseThrow())
                    .extracting(SimEventChannel::state, SimEventChannel::remoteDomid)
                    .containsExactly(SimEventChannel.State.UNBOUND, 0);
            xen.notifyViaXenEventChannel(guest, xenPort);
            assertThat(evtchn.pending()).isEmpty();
            assertThat(errno(() -> evtchn.unbind(local))).isEqualTo(Errno.ENOTCONN);
            assertThat(errno(() -> evtchn.notifyRemote(local))).isEqualTo(Errno.ENOTCONN);
            assertThat(notified).isEmpty();

            int again = evtchn.bindInterdomain(guest, xenPort);
            assertThat(evtchn.pending()).containsExactly(again);
        }
    }

    @Test
    void aPortQueuedBeforeItsUnbindStillComesOut() {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        try (Evtchn evtchn = Evtchn.open(seam)) {
            int local = evtchn.bindInterdomain(guest, xenPort);
            evtchn.unbind(local); // the driver does not take the port back out of its ring
            assertThat(evtchn.pending()).containsExactly(local);
        }
    }

    @Test
    void closingTheHandleUnbindsEveryPortAndLeavesNothingOpen() {
        int first = xen.allocUnboundXenEventChannel(guest, notified::add);
        int second = xen.allocUnboundXenEventChannel(guest, notified::add);
        int filesBefore = simulated.openFileCount();
        int mappingsBefore = simulated.mappingCount();
        Evtchn evtchn = Evtchn.open(seam);
        int a = evtchn.bindInterdomain(guest, first);
        int b = evtchn.bindInterdomain(guest, second);
        try (Evtchn other = Evtchn.open(seam)) {
            assertThat(errno(() -> other.unbind(a))).as("ports belong to the handle that bound them").isEqualTo(Errno.ENOTCONN);
            assertThat(errno(() -> other.notifyRemote(b))).isEqualTo(Errno.ENOTCONN);
            assertThat(errno(() -> other.bindInterdomain(guest, first))).as("bound already").isEqualTo(Errno.EINVAL);
        }
        evtchn.close();
        evtchn.close(); // twice is harmless
        for (int xenPort : new int[] {first, second}) {
            assertThat(xen.eventChannel(guest, xenPort).orElseThrow())
                    .extracting(SimEventChannel::state, SimEventChannel::remoteDomid)
                    .containsExactly(SimEventChannel.State.UNBOUND, 0);
        }
        assertThat(xen.eventChannel(0, a)).isEmpty();
        assertThat(xen.eventChannel(0, b)).isEmpty();
        assertThat(simulated.openFileCount()).isEqualTo(filesBefore);
        assertThat(simulated.mappingCount()).isEqualTo(mappingsBefore);
        assertThatThrownBy(evtchn::pending).isInstanceOf(IllegalStateException.class).hasMessageContaining("after close");
    }

    @Test
    void bindFollowsXensChecks() {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        int forSomeoneElse = xen.guestAllocUnbound(guest, 5);
        int forDom0 = xen.guestAllocUnbound(guest, 0);
        try (Evtchn evtchn = Evtchn.open(seam)) {
            assertThat(errno(() -> evtchn.bindInterdomain(77, xenPort))).as("no such domain").isEqualTo(Errno.ESRCH);
            assertThat(errno(() -> evtchn.bindInterdomain(guest, 99))).as("a free port").isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> evtchn.bindInterdomain(guest, 0))).as("port 0, reserved").isEqualTo(Errno.EINVAL);
            assertThat(errno(() -> evtchn.bindInterdomain(guest, forSomeoneElse))).as("allocated for d5")
                    .isEqualTo(Errno.EINVAL);
            assertThat(xen.eventChannel(0, 1)).as("a failed bind leaves dom0 no port").isEmpty();
            int plain = evtchn.bindInterdomain(guest, forDom0);
            assertThat(errno(() -> evtchn.bindInterdomain(guest, forDom0))).as("already bound").isEqualTo(Errno.EINVAL);
            // A guest's own port: dom0's notification sets it pending (no Xen function behind it).
            evtchn.notifyRemote(plain);
            assertThat(xen.eventChannel(guest, forDom0).orElseThrow().pending()).isTrue();
            assertThat(notified).isEmpty();

            assertThatThrownBy(() -> evtchn.bindInterdomain(guest, forSomeoneElse)).isInstanceOf(XenException.class)
                    .hasMessage("IOCTL_EVTCHN_BIND_INTERDOMAIN (domain " + guest + "): EINVAL (22): port " + forSomeoneElse
                            + " of domain " + guest + " is not an unbound event channel allocated for domain 0: it is free,"
                            + " bound already (by another handle or process), or meant for another domain (a vm_event"
                            + " ring's port exists only while the ring is enabled)");
            assertThatThrownBy(() -> evtchn.bindInterdomain(77, 1)).hasMessageContaining("ESRCH (3): no such domain");
        }
    }

    @Test
    void aDestroyedDomainsPortsAreGoneAndNotifyingThemDoesNothing() {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        try (Evtchn evtchn = Evtchn.open(seam); Privcmd privcmd = Privcmd.open(seam);
             Hypervisor hypervisor = Hypervisor.open(privcmd, null, null, false)) {
            int local = evtchn.bindInterdomain(guest, xenPort);
            hypervisor.destroyDomain(guest);
            assertThat(xen.eventChannel(0, local).orElseThrow())
                    .extracting(SimEventChannel::state, SimEventChannel::remoteDomid)
                    .containsExactly(SimEventChannel.State.UNBOUND, guest);
            evtchn.notifyRemote(local); // Xen drops it: the port is unbound
            assertThat(notified).isEmpty();
            assertThat(errno(() -> evtchn.bindInterdomain(guest, xenPort))).isEqualTo(Errno.ESRCH);
            evtchn.unbind(local);
            assertThat(xen.eventChannel(0, local)).isEmpty();
        }
    }

    @Test
    void freeingXensPortLeavesDom0sEndUnbound() {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        try (Evtchn evtchn = Evtchn.open(seam)) {
            int local = evtchn.bindInterdomain(guest, xenPort);
            xen.freeXenEventChannel(guest, xenPort); // vm_event_disable
            assertThat(xen.eventChannel(guest, xenPort)).isEmpty();
            assertThat(xen.eventChannel(0, local).orElseThrow().state()).isEqualTo(SimEventChannel.State.UNBOUND);
            evtchn.notifyRemote(local);
            assertThat(notified).isEmpty();
        }
        assertThatThrownBy(() -> xen.notifyViaXenEventChannel(guest, xen.guestAllocUnbound(guest, 0)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("not one of Xen's own ports");
    }

    @Test
    void dom0RunsOutOfPorts() {
        // dom0 on the 2-level ABI has ports 1..4095; a guest has as many to offer.
        SimXen sim = SimXen.builder(XenRelease.parse("4.17")).dom0FifoEvents(false).build();
        int g1 = sim.addGuest(GuestSpec.hvm("g1", 1, 4096)).domid();
        int g2 = sim.addGuest(GuestSpec.hvm("g2", 1, 4096)).domid();
        List<Integer> offered = new ArrayList<>();
        for (int i = 1; i < EventChannels.TWO_LEVEL_PORTS; i++) {
            offered.add(sim.guestAllocUnbound(g1, 0));
        }
        assertThatThrownBy(() -> sim.guestAllocUnbound(g1, 0)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("ENOSPC");
        try (Evtchn evtchn = Evtchn.open(nonBlockingOnly(new SimulatedSeam(sim)))) {
            for (int p : offered) {
                evtchn.bindInterdomain(g1, p);
            }
            int last = sim.guestAllocUnbound(g2, 0);
            assertThatThrownBy(() -> evtchn.bindInterdomain(g2, last)).isInstanceOfSatisfying(XenException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.ENOSPC)).hasMessageContaining("no free event channel port");
            assertThat(sim.eventChannel(g2, last).orElseThrow().state()).as("untouched").isEqualTo(SimEventChannel.State.UNBOUND);
            // 2-level: xen_evtchn_nr_channels() is 4096
            assertThat(errno(() -> evtchn.unbind(EventChannels.TWO_LEVEL_PORTS))).isEqualTo(Errno.EINVAL);
        }
    }

    @Test
    void unbindOfAPortBeyondTheKernelsEventArrayIsEinval() {
        // FIFO: the event array covers a page of 1024 ports until dom0 binds a higher one.
        try (Evtchn evtchn = Evtchn.open(seam)) {
            assertThat(errno(() -> evtchn.unbind(EventChannels.FIFO_PORTS_PER_PAGE - 1))).isEqualTo(Errno.ENOTCONN);
            assertThatThrownBy(() -> evtchn.unbind(EventChannels.FIFO_PORTS_PER_PAGE)).isInstanceOfSatisfying(
                    XenException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL))
                    .hasMessageContaining("beyond the event channels domain 0's kernel has set up");
        }
    }

    @Test
    void anOverflowingRingIsEfbigUntilReset() throws InterruptedException {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        try (Evtchn evtchn = Evtchn.open(seam)) {
            int local = evtchn.bindInterdomain(guest, xenPort); // queued once: 1 of 64
            // Unmasking without reading lets the same port in again: 63 more fill the ring, the 64th overflows.
            for (int i = 0; i < 64; i++) {
                evtchn.unmask(local);
                xen.notifyViaXenEventChannel(guest, xenPort);
            }
            assertThat(evtchn.await(Duration.ZERO)).as("POLLERR wakes a waiter").isTrue();
            assertThatThrownBy(evtchn::pending).isInstanceOfSatisfying(XenException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.EFBIG)).hasMessageContaining("reset()");
            evtchn.reset();
            assertThat(evtchn.pending()).isEmpty();
            // The port stays masked through the reset: a notification waits until it is unmasked.
            xen.notifyViaXenEventChannel(guest, xenPort);
            assertThat(evtchn.pending()).isEmpty();
            evtchn.unmask(local);
            assertThat(evtchn.pending()).containsExactly(local);
        }
    }

    @Test
    void awaitTimesOutLooksWithoutWaitingAndSeesPendingPorts() throws InterruptedException {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        try (Evtchn evtchn = Evtchn.open(seam)) {
            assertThat(evtchn.await(Duration.ZERO)).isFalse();
            assertThat(evtchn.await(Duration.ofMillis(20))).as("the timeout passes").isFalse();
            int local = evtchn.bindInterdomain(guest, xenPort);
            assertThat(evtchn.await(Duration.ZERO)).isTrue();
            assertThat(evtchn.pending()).containsExactly(local);
            assertThatThrownBy(() -> evtchn.await(Duration.ofMillis(-1))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("negative timeout");
        }
    }

    @Test
    void aWakeUpDuringAWaitIsHeardAtTheNextSlice() throws InterruptedException {
        Evtchn[] handle = new Evtchn[1];
        int[] polls = new int[1];
        ForwardingSeam wakingSeam = new ForwardingSeam(seam) {
            @Override
            public int poll(int fd, int events, int timeoutMillis) throws NativeException {
                assertThat(timeoutMillis).as("one slice at most").isBetween(0, (int) Evtchn.POLL_SLICE.toMillis());
                if (polls[0]++ == 0) {
                    handle[0].wakeUp(); // as another thread would, while this poll waits
                }
                return super.poll(fd, events, timeoutMillis);
            }
        };
        try (Evtchn evtchn = Evtchn.open(wakingSeam)) {
            handle[0] = evtchn;
            assertThat(evtchn.await(Duration.ofSeconds(30))).isFalse();
            assertThat(polls[0]).isEqualTo(1);
            // A wake-up asked for while nobody waits is kept for the next wait, however long (no overflow).
            evtchn.wakeUp();
            assertThat(evtchn.await(Duration.ofSeconds(Long.MAX_VALUE))).isFalse();
            assertThat(polls[0]).isEqualTo(1);
        }
    }

    @Test
    void anInterruptEndsAWaitAndASignalDoesNot() throws InterruptedException {
        int[] polls = new int[1];
        ForwardingSeam interrupting = new ForwardingSeam(seam) {
            @Override
            public int poll(int fd, int events, int timeoutMillis) throws NativeException {
                if (polls[0]++ == 0) {
                    Thread.currentThread().interrupt(); // the simulated poll then fails with EINTR
                }
                return super.poll(fd, events, timeoutMillis);
            }
        };
        try (Evtchn evtchn = Evtchn.open(interrupting)) {
            assertThatThrownBy(() -> evtchn.await(Duration.ofSeconds(30))).isInstanceOf(InterruptedException.class);
            assertThat(Thread.interrupted()).as("the flag is cleared, as InterruptedException says").isFalse();
        }

        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        int[] signals = new int[1];
        ForwardingSeam signalled = new ForwardingSeam(seam) {
            @Override
            public int poll(int fd, int events, int timeoutMillis) throws NativeException {
                if (signals[0]++ == 0) {
                    throw new NativeException("poll(" + fd + ")", Errno.EINTR); // a signal to this thread
                }
                return super.poll(fd, events, timeoutMillis);
            }
        };
        try (Evtchn evtchn = Evtchn.open(signalled)) {
            evtchn.bindInterdomain(guest, xenPort);
            assertThat(evtchn.await(Duration.ZERO)).as("polled again after EINTR").isTrue();
            assertThat(signals[0]).isEqualTo(2);
        }
    }

    @Test
    void aNotificationFromAnotherThreadEndsAWait() throws InterruptedException {
        int xenPort = xen.allocUnboundXenEventChannel(guest, notified::add);
        try (Evtchn evtchn = Evtchn.open(seam)) {
            int local = evtchn.bindInterdomain(guest, xenPort);
            assertThat(evtchn.pending()).containsExactly(local);
            evtchn.unmask(local);
            Thread xenSide = new Thread(() -> xen.notifyViaXenEventChannel(guest, xenPort));
            xenSide.start();
            assertThat(evtchn.await(Duration.ofSeconds(30))).isTrue();
            xenSide.join();
            assertThat(evtchn.pending()).containsExactly(local);
        }
    }

    @Test
    void opensTheDeviceCloseOnExecAndNonBlocking() {
        int[] flags = {-1};
        ForwardingSeam recording = new ForwardingSeam(seam) {
            @Override
            public int open(String path, int f) throws NativeException {
                assertThat(path).isEqualTo(Linux.EVTCHN_DEVICE);
                flags[0] = f;
                return super.open(path, f);
            }
        };
        try (Evtchn evtchn = Evtchn.open(recording)) {
            assertThat(flags[0] & Linux.O_CLOEXEC).isEqualTo(Linux.O_CLOEXEC);
            assertThat(flags[0] & Linux.O_NONBLOCK).isEqualTo(Linux.O_NONBLOCK);
            assertThat(flags[0] & 3).as("O_RDWR").isEqualTo(Linux.O_RDWR);
            assertThat(evtchn.pending()).as("non-blocking: empty, not a wait").isEmpty();
        }
    }

    @Test
    void argumentsFromOutsideAreChecked() {
        try (Evtchn evtchn = Evtchn.open(seam)) {
            assertThatThrownBy(() -> evtchn.bindInterdomain(-1, 1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("domain id -1 is out of range: domain ids are 0 to 32751 (0x7fef)");
            assertThatThrownBy(() -> evtchn.bindInterdomain(0x7ff0, 1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("domain id 32752 is out of range");
            assertThatThrownBy(() -> evtchn.bindInterdomain(guest, -1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("remote port -1");
            assertThatThrownBy(() -> evtchn.unbind(-2)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> evtchn.notifyRemote(-2)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> evtchn.unmask(-2)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> evtchn.unbind(3)).hasMessage(
                    "IOCTL_EVTCHN_UNBIND: ENOTCONN (107): port 3 is not bound through this /dev/xen/evtchn handle");
        }
    }
}
