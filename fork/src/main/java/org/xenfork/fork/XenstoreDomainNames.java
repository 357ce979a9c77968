package org.xenfork.fork;

import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.xenfork.xenstore.XenstoreClient;
import org.xenfork.xenstore.XsPermission;

/**
 * Domain names in xenstore, written as the toolstacks that fork write them
 * (KF/x's forkvm, the rig's dm-fork oracle): {@code /local/domain/N} owned by
 * dom0 and readable by N, its {@code name} and {@code domid}, and
 * {@code /libxl/N/type} ({@code hvm} or {@code pvh}, as the parent) so that
 * {@code xl unpause} and {@code xl destroy} know the guest's type. {@link #remove} deletes
 * both trees, as {@code xl destroy} does.
 */
public final class XenstoreDomainNames implements DomainNames {
    private final XenstoreClient client;

    public XenstoreDomainNames(XenstoreClient client) {
        this.client = client;
    }

    @Override
    public Optional<String> name(int domid) throws IOException {
        return client.read(home(domid) + "/name");
    }

    /** One transaction: a name appears with its permissions, or not at all. */
    @Override
    public void assign(int domid, String name, boolean pvh) throws IOException {
        DomainNames.check(name);
        String home = home(domid);
        client.transaction(tx -> {
            tx.mkdir(home);
            tx.setPermissions(home, List.of(XsPermission.none(0), XsPermission.read(domid)));
            tx.write(home + "/name", name);
            tx.write(home + "/domid", Integer.toString(domid));
            tx.write(libxl(domid) + "/type", pvh ? "pvh" : "hvm");
            return null;
        });
    }

    @Override
    public void remove(int domid) throws IOException {
        client.rmIfPresent(home(domid));
        client.rmIfPresent(libxl(domid));
    }

    private static String home(int domid) {
        return "/local/domain/" + domid;
    }

    private static String libxl(int domid) {
        return "/libxl/" + domid;
    }
}
