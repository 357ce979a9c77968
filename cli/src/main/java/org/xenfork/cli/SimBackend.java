package org.xenfork.cli;

import java.util.Optional;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.DomainNames;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;

/**
 * {@code --backend sim}: a fresh simulated Xen per command (release {@code --xen},
 * else 4.17, the release of the test rig), with its Domain-0. Nothing persists
 * between commands; tests and the demo add guests through the library. Names
 * live in the simulator's domain table, its stand-in for xenstore.
 */
final class SimBackend extends Backend {
    static final XenRelease DEFAULT_RELEASE = XenRelease.parse("4.17");

    private final SimXen sim;
    private final SimulatedSeam seam;
    private final DomainNames names;

    SimBackend(SimXen sim) {
        this.sim = sim;
        this.seam = new SimulatedSeam(sim);
        this.names = new DomainNames() {
            @Override
            public Optional<String> name(int domid) {
                return sim.name(domid);
            }

            @Override
            public void assign(int domid, String name, boolean pvh) {
                sim.rename(domid, name);
            }

            @Override
            public void remove(int domid) {
                // the simulator forgets a name with its domain
            }
        };
    }

    static SimBackend create(XenforkCommand root) {
        return new SimBackend(root.simulator.apply(root.xen == null ? DEFAULT_RELEASE : XenRelease.parse(root.xen)));
    }

    @Override
    NativeSeam seam() {
        return seam;
    }

    @Override
    DomainNames names() {
        return names;
    }
}
