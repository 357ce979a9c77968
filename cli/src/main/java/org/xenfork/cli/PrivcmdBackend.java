package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import java.util.Optional;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkStep;
import org.xenfork.fork.Undo;
import org.xenfork.fork.devicemodel.DeviceModelLauncher;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.NativeSeam;
import org.xenfork.xenstore.XenstoreClient;

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
    DeviceModelLauncher deviceModels(PrintWriter err, DeviceModelLauncher.Settings settings) {
        return new DeviceModelLauncher(names.client("a QEMU device model", ""), settings, notices(err));
    }

    @Override
    void stopDeviceModel(int domid, PrintWriter err, DeviceModelLauncher.Settings settings) {
        Optional<XenstoreClient> xs = names.clientIfReachable(); // no xenstore, no device model to find
        if (xs.isEmpty()) {
            return;
        }
        try {
            String done = new DeviceModelLauncher(xs.get(), settings, notices(err)).stop(domid);
            if (!done.isEmpty()) {
                err.println("xenfork: domain " + domid + "'s device model: " + done);
            }
        } catch (IOException e) {
            throw new ForkException(ForkStep.DESTROY, e, List.of(Undo.done(Undo.Action.KEEP_DOMAIN, domid)));
        }
    }

    @Override
    void closeNames() {
        names.close();
    }
}
