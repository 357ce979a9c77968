package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Optional;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.XenstoreDomainNames;
import org.xenfork.privcmd.XenEnvironmentException;
import org.xenfork.xenstore.XenstoreClient;

/**
 * Domain names in xenstore for the command line, connected on first use.
 * Reading and cleaning up degrade: without a reachable xenstored, names read
 * as absent and nothing is removed, and the user is told once why; the
 * hypercall results are still shown. Assigning a name is never skipped
 * silently: it fails. After {@link #requireReachable()} (a command that names
 * forks) nothing degrades: a failed read fails the command, so a name that is
 * taken cannot pass as free.
 */
final class XenstoreNames implements DomainNames, AutoCloseable {
    /** How to reach xenstored: {@link XenstoreClient#connect()}, or a test's fake. */
    interface Connector {
        XenstoreClient connect() throws IOException;
    }

    private final PrintWriter err;
    private final Connector connector;
    private XenstoreClient client;
    private XenstoreDomainNames names;
    private boolean off; // unreachable or failed once: said, and not tried again
    private boolean strict;

    XenstoreNames(PrintWriter err) {
        this(err, XenstoreClient::connect);
    }

    XenstoreNames(PrintWriter err, Connector connector) {
        this.err = err;
        this.connector = connector;
    }

    /** Connects now, or fails with exit code 3 saying why; from now on failures are not hidden. */
    void requireReachable() {
        client("naming forks", "or fork without --name");
    }

    /**
     * The connection, made now if need be, for work that cannot do without xenstore
     * ({@code purpose}); exit code 3 saying why if xenstored cannot be reached.
     */
    XenstoreClient client(String purpose, String otherwise) {
        strict = true;
        if (client == null) {
            try {
                connect();
            } catch (IOException e) {
                throw new XenEnvironmentException(purpose + " needs xenstored, which is not reachable ("
                        + e.getMessage() + "); start xenstored" + (otherwise.isEmpty() ? "" : ", " + otherwise));
            }
        }
        return client;
    }

    private void connect() throws IOException {
        client = connector.connect();
        names = new XenstoreDomainNames(client);
    }

    /** The connection if xenstored is reachable (said once if not), for work that can do without it. */
    Optional<XenstoreClient> clientIfReachable() {
        return names() == null ? Optional.empty() : Optional.of(client);
    }

    private XenstoreDomainNames names() {
        if (names == null && !off) {
            try {
                connect();
            } catch (IOException e) {
                giveUp("xenstore is not reachable (" + e.getMessage() + ")");
            }
        }
        return names;
    }

    @Override
    public Optional<String> name(int domid) throws IOException {
        XenstoreDomainNames n = names();
        if (n == null) {
            return Optional.empty();
        }
        try {
            return n.name(domid);
        } catch (IOException e) {
            if (strict) {
                throw e;
            }
            giveUp("xenstore read of domain " + domid + "'s name failed (" + e.getMessage() + ")");
            return Optional.empty();
        }
    }

    @Override
    public void assign(int domid, String name, boolean pvh) throws IOException {
        XenstoreDomainNames n = names();
        if (n == null) {
            throw new IOException("xenstore is not reachable, so domain " + domid + " cannot be named '" + name + "'");
        }
        n.assign(domid, name, pvh);
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
