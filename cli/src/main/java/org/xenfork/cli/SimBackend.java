package org.xenfork.cli;

import java.util.Optional;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;

/**
 * {@code --backend sim}: a fresh simulated Xen per command (release {@code --xen},
 * else 4.17, the release of the test rig), with its Domain-0. Nothing persists
 * between commands; tests and the demo add guests through the library.
 */
final class SimBackend extends Backend {
    static final XenRelease DEFAULT_RELEASE = XenRelease.parse("4.17");

    private final SimXen sim;
    private final SimulatedSeam seam;

    private SimBackend(SimXen sim) {
        this.sim = sim;
        this.seam = new SimulatedSeam(sim);
    }

    static SimBackend create(XenforkCommand root) {
        return new SimBackend(root.simulator.apply(root.xen == null ? DEFAULT_RELEASE : XenRelease.parse(root.xen)));
    }

    @Override
    NativeSeam seam() {
        return seam;
    }

    @Override
    Optional<String> name(int domid) {
        return sim.name(domid);
    }
}
