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
    private final XenstoreClient client;

    private XenstoreNames(XenstoreClient client) {
        this.client = client;
    }

    static XenstoreNames connect(PrintWriter err) {
        try {
            return new XenstoreNames(XenstoreClient.connect());
        } catch (IOException e) {
            err.println("xenfork: xenstore is not reachable (" + e.getMessage() + "); domain names are not shown");
            return new XenstoreNames(null);
        }
    }

    Optional<String> name(int domid) {
        if (client == null) {
            return Optional.empty();
        }
        try {
            return client.read("/local/domain/" + domid + "/name");
        } catch (IOException e) {
            throw new XenstoreRefusal("xenstore read /local/domain/" + domid + "/name: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (client != null) {
            client.close();
        }
    }
}
