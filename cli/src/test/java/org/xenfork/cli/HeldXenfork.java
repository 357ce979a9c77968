package org.xenfork.cli;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.xenfork.fork.StopRequest;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimXen;

/**
 * {@code bin/xenfork} as it runs ({@link Main#main}: the JVM's own signal handling, shutdown and
 * {@code System.exit}), on a simulator with one paused guest, "parent" (domain 1), that holds the
 * workflow right after the Nth {@code XEN_DOMCTL_createdomain} ({@code -Dheld.at=N}, default 2)
 * until a stop is requested. It says {@code held: …} on stderr once it is held, so that
 * {@link SignalStopTest} knows when to send its signal: exactly between that fork's createdomain
 * and the rest of its steps, every time.
 */
public final class HeldXenfork {
    private HeldXenfork() {
    }

    @SuppressWarnings("try") // the registration is never read: it only has to stay registered while the hold waits
    public static void main(String[] args) {
        int at = Integer.getInteger("held.at", 2);
        XenforkCommand top = new XenforkCommand();
        top.simulator = release -> {
            SimXen x = SimXen.create(release);
            x.addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
            int[] creates = {0};
            x.afterCall(SimCall.named("XEN_DOMCTL_createdomain").and(c -> ++creates[0] == at), done -> {
                CountDownLatch stopped = new CountDownLatch(1);
                StopRequest stop = top.signals.request();
                try (StopRequest.Registration r = stop.onRequest(stopped::countDown)) {
                    System.err.println("held: after " + done);
                    System.err.flush();
                    if (!stopped.await(60, TimeUnit.SECONDS)) { // bounded, so a test that sends nothing still ends
                        System.err.println("held: no stop came within 60 s; going on");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            return x;
        };
        Main.main(top, args);
    }
}
