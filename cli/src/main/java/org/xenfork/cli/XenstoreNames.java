package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Optional;
import org.xenfork.xenstore.XenstoreClient;

/**
 * Domain names from xenstore ({@code /local/domain/N/name}), as {@code xl list}
 * shows them. Without a reachable xenstored, names are absent and the user is
 * told once why; the hypercall results are still shown.
 */
final class XenstoreNames implements AutoCloseable {
    private final PrintWriter err;
    private XenstoreClient client;

    private XenstoreNames(XenstoreClient client, PrintWriter err) {
        this.client = client;
        this.err = err;
    }

    static XenstoreNames connect(PrintWriter err) {
        try {
            return new XenstoreNames(XenstoreClient.connect(), err);
        } catch (IOException e) {
            err.println("xenfork: xenstore is not reachable (" + e.getMessage() + "); domain names are not shown");
            return new XenstoreNames(null, err);
        }
    }

    /** The name, or empty: none set, or xenstore failed (said once; names are then off for this command). */
    Optional<String> name(int domid) {
        if (client == null) {
            return Optional.empty();
        }
        try {
            return client.read("/local/domain/" + domid + "/name");
        } catch (IOException e) {
            err.println("xenfork: xenstore read /local/domain/" + domid + "/name failed (" + e.getMessage()
                    + "); domain names are not shown");
            close();
            return Optional.empty();
        }
    }

    @Override
    public void close() {
        if (client != null) {
            client.close();
            client = null;
        }
    }
}
