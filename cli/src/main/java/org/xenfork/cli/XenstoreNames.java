package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Optional;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.XenstoreDomainNames;
import org.xenfork.xenstore.XenstoreClient;

/**
 * Domain names in xenstore for the command line, connected on first use.
 * Reading and cleaning up degrade: without a reachable xenstored, names read
 * as absent and nothing is removed, and the user is told once why; the
 * hypercall results are still shown. Assigning a name is never skipped
 * silently: it fails.
 */
final class XenstoreNames implements DomainNames, AutoCloseable {
    private final PrintWriter err;
    private XenstoreClient client;
    private XenstoreDomainNames names;
    private boolean off; // unreachable or failed once: said, and not tried again

    XenstoreNames(PrintWriter err) {
        this.err = err;
    }

    /** Connects now; false (and said why) if xenstore is not reachable. */
    boolean reachable() {
        return names() != null;
    }

    private XenstoreDomainNames names() {
        if (names == null && !off) {
            try {
                client = XenstoreClient.connect();
                names = new XenstoreDomainNames(client);
            } catch (IOException e) {
                giveUp("xenstore is not reachable (" + e.getMessage() + ")");
            }
        }
        return names;
    }

    @Override
    public Optional<String> name(int domid) {
        XenstoreDomainNames n = names();
        if (n == null) {
            return Optional.empty();
        }
        try {
            return n.name(domid);
        } catch (IOException e) {
            giveUp("xenstore read of domain " + domid + "'s name failed (" + e.getMessage() + ")");
            return Optional.empty();
        }
    }

    @Override
    public void assign(int domid, String name) throws IOException {
        XenstoreDomainNames n = names();
        if (n == null) {
            throw new IOException("xenstore is not reachable, so domain " + domid + " cannot be named '" + name + "'");
        }
        n.assign(domid, name);
    }

    @Override
    public void remove(int domid) throws IOException {
        XenstoreDomainNames n = names();
        if (n != null) {
            n.remove(domid);
        }
    }

    private void giveUp(String why) {
        err.println("xenfork: " + why + "; domain names are not shown or removed");
        off = true;
        close();
    }

    @Override
    public void close() {
        if (client != null) {
            client.close();
            client = null;
            names = null;
        }
    }
}
