package org.xenfork.xenstore;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * A xenstore transaction: its reads see a snapshot, its writes become visible to
 * others only at {@link #commit()}, which fails with {@code EAGAIN} if a node the
 * transaction touched changed meanwhile. Start one with
 * {@link XenstoreClient#startTransaction()}, or let
 * {@link XenstoreClient#transaction(XenstoreClient.TransactionBody)} run and retry it.
 *
 * <p>{@link #close()} abandons it unless it was committed or aborted. After it
 * ended, every operation throws {@link IllegalStateException}. Not for use by
 * several threads at once (a transaction is one sequence of steps).
 */
public final class XenstoreTransaction implements XenstoreOperations, AutoCloseable {

    private final XsRequests requests;
    private boolean ended;

    XenstoreTransaction(XsRequests requests) {
        this.requests = requests;
    }

    /** The id xenstored assigned (an unsigned 32-bit value, never 0). */
    public int id() {
        return requests.txId();
    }

    /** {@code XS_TRANSACTION_END "T"}; throws {@link XenstoreException} with {@code EAGAIN} on a conflict. */
    public void commit() throws IOException {
        end(true);
    }

    /** {@code XS_TRANSACTION_END "F"}: discards the transaction's changes. */
    public void abort() throws IOException {
        end(false);
    }

    private void end(boolean commit) throws IOException {
        checkActive();
        // Over whatever the outcome: xenstored forgets the transaction on any reply to END.
        ended = true;
        requests.transactionEnd(commit);
    }

    public boolean isActive() {
        return !ended;
    }

    /** Aborts if still active. */
    @Override
    public void close() throws IOException {
        if (!ended) {
            abort();
        }
    }

    private void checkActive() {
        if (ended) {
            throw new IllegalStateException("transaction " + Integer.toUnsignedString(id()) + " has ended");
        }
    }

    @Override
    public Optional<String> read(String path) throws IOException {
        checkActive();
        return requests.read(path);
    }

    @Override
    public Optional<byte[]> readBytes(String path) throws IOException {
        checkActive();
        return requests.readBytes(path);
    }

    @Override
    public void write(String path, String value) throws IOException {
        checkActive();
        requests.write(path, value);
    }

    @Override
    public void write(String path, byte[] value) throws IOException {
        checkActive();
        requests.write(path, value);
    }

    @Override
    public void mkdir(String path) throws IOException {
        checkActive();
        requests.mkdir(path);
    }

    @Override
    public void rm(String path) throws IOException {
        checkActive();
        requests.rm(path);
    }

    @Override
    public List<String> directory(String path) throws IOException {
        checkActive();
        return requests.directory(path);
    }

    @Override
    public List<XsPermission> getPermissions(String path) throws IOException {
        checkActive();
        return requests.getPermissions(path);
    }

    @Override
    public void setPermissions(String path, List<XsPermission> permissions) throws IOException {
        checkActive();
        requests.setPermissions(path, permissions);
    }

    @Override
    public String toString() {
        return "xenstore transaction " + Integer.toUnsignedString(id()) + (ended ? " (ended)" : "");
    }
}
