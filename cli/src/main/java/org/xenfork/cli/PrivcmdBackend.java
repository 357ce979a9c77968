package org.xenfork.cli;

import java.io.PrintWriter;
import org.xenfork.fork.DomainNames;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.NativeSeam;

/** The real hypervisor through /dev/xen/privcmd; names in xenstore. */
final class PrivcmdBackend extends Backend {
    private final XenstoreNames names;

    PrivcmdBackend(PrintWriter err) {
        this.names = new XenstoreNames(err);
    }

    @Override
    NativeSeam seam() {
        return LinuxSeam.get();
    }

    @Override
    DomainNames names() {
        return names;
    }

    @Override
    void requireNames() {
        names.requireReachable();
    }

    @Override
    void closeNames() {
        names.close();
    }
}
