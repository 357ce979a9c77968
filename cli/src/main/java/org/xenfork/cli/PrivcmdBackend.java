package org.xenfork.cli;

import java.io.PrintWriter;
import java.util.Optional;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.NativeSeam;

/** The real hypervisor through /dev/xen/privcmd; names from xenstore. */
final class PrivcmdBackend extends Backend {
    private final PrintWriter err;
    private XenstoreNames names;

    PrivcmdBackend(PrintWriter err) {
        this.err = err;
    }

    @Override
    NativeSeam seam() {
        return LinuxSeam.get();
    }

    @Override
    Optional<String> name(int domid) {
        if (names == null) {
            names = XenstoreNames.connect(err);
        }
        return names.name(domid);
    }

    @Override
    void closeNames() {
        if (names != null) {
            names.close();
        }
    }
}
