package org.xenfork.xenstore;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.xenfork.wire.ProtocolViolationException;

/**
 * What each request means: payload layout per operation (docs/misc/xenstore.txt),
 * reply parsing, and {@code XS_ERROR} to {@link XenstoreException}. One instance
 * per transaction id; {@code txId == 0} is "no transaction".
 */
final class XsRequests implements XenstoreOperations {

    /** A node that keeps changing while we page through it: libxenstore restarts without limit, we give up after this many. */
    static final int DIRECTORY_PART_RESTARTS = 8;

    /** A children list beyond this is refused rather than buffered: 1 MiB is over 100,000 domain ids. */
    static final int DIRECTORY_MAX_BYTES = 1 << 20;

    private static final byte[] COMMIT = XsPayload.strings("T");
    private static final byte[] ABORT = XsPayload.strings("F");

    private final XsConnection connection;
    private final int txId;

    XsRequests(XsConnection connection, int txId) {
        this.connection = connection;
        this.txId = txId;
    }

    int txId() {
        return txId;
    }

    // --- node operations ---------------------------------------------------------------------------

    @Override
    public Optional<String> read(String path) throws IOException {
        return readBytes(path).map(b -> new String(b, StandardCharsets.UTF_8));
    }

    @Override
    public Optional<byte[]> readBytes(String path) throws IOException {
        XsPath.requireNodePath(path);
        try {
            // The reply is the value itself, without a terminating NUL.
            return Optional.of(call(XsMessageType.READ, path, XsPayload.strings(path)).payload());
        } catch (XenstoreException e) {
            if (e.is(XsError.ENOENT)) {
                return Optional.empty();
            }
            throw e;
        }
    }

    @Override
    public void write(String path, String value) throws IOException {
        write(path, value.getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void write(String path, byte[] value) throws IOException {
        XsPath.requireNodePath(path);
        // "path\0value": the value runs to the end of the payload, no terminator.
        call(XsMessageType.WRITE, path, checkedSize(XsMessageType.WRITE, XsPayload.concat(XsPayload.strings(path), value)));
    }

    @Override
    public void mkdir(String path) throws IOException {
        XsPath.requireNodePath(path);
        call(XsMessageType.MKDIR, path, XsPayload.strings(path));
    }

    @Override
    public void rm(String path) throws IOException {
        XsPath.requireNodePath(path);
        if (path.equals("/")) {
            // oxenstored 4.17 obeys it and empties the whole store (tried by hand with Debian's
            // xenstore-rm); no caller of a root tool means that.
            throw new IllegalArgumentException("refusing XS_RM / : it would remove the whole store");
        }
        call(XsMessageType.RM, path, XsPayload.strings(path));
    }

    /**
     * {@code XS_DIRECTORY}, and on E2BIG the pieces of {@code XS_DIRECTORY_PART}, as
     * libxenstore's {@code xs_directory} does. C xenstored answers E2BIG for a list over
     * {@code XENSTORE_PAYLOAD_MAX}. oxenstored 4.17 has no {@code XS_DIRECTORY_PART} and
     * answers a long list on its socket with an oversized reply, which this client (like
     * libxenstore) refuses as a protocol error; see RealXenstoredTest.
     */
    @Override
    public List<String> directory(String path) throws IOException {
        XsPath.requireNodePath(path);
        try {
            return replyStrings(XsMessageType.DIRECTORY, path, call(XsMessageType.DIRECTORY, path, XsPayload.strings(path)).payload());
        } catch (XenstoreException tooBig) {
            if (!tooBig.is(XsError.E2BIG)) {
                throw tooBig;
            }
            try {
                return directoryInParts(path);
            } catch (XenstoreException e) {
                if (e.operation() == XsMessageType.DIRECTORY_PART && e.is(XsError.ENOSYS)) {
                    tooBig.addSuppressed(e);
                    throw tooBig; // what libxenstore reports too
                }
                throw e;
            }
        }
    }

    /**
     * {@code XS_DIRECTORY_PART path\0offset\0} answers {@code generation\0} followed by the
     * children list from byte {@code offset} on; the piece that reaches the end carries one
     * extra NUL. A changed generation means the node changed between pieces: start again.
     */
    private List<String> directoryInParts(String path) throws IOException {
        for (int restart = 0; restart < DIRECTORY_PART_RESTARTS; restart++) {
            ByteArrayOutputStream children = new ByteArrayOutputStream();
            String generation = null;
            byte lastSoFar = -1;
            while (true) {
                byte[] reply = call(XsMessageType.DIRECTORY_PART, path,
                        XsPayload.strings(path, Integer.toString(children.size()))).payload();
                int nul = indexOf(reply, (byte) 0);
                if (nul < 0) {
                    throw new ProtocolViolationException(connection.peer(), "XS_DIRECTORY_PART " + path, "XS_DIRECTORY_PART reply without generation: " + XsPayload.printable(reply, 80));
                }
                String gen = new String(reply, 0, nul, StandardCharsets.US_ASCII);
                if (generation == null) {
                    generation = gen;
                } else if (!generation.equals(gen)) {
                    break; // changed under us: the pieces do not fit together, start again
                }
                int pieceLength = reply.length - nul - 1;
                if (pieceLength == 0) {
                    throw new ProtocolViolationException(connection.peer(), "XS_DIRECTORY_PART " + path, "XS_DIRECTORY_PART " + path + " at offset " + children.size() + " returned nothing");
                }
                if (children.size() + pieceLength > DIRECTORY_MAX_BYTES) {
                    throw new ProtocolViolationException(connection.peer(), "XS_DIRECTORY_PART " + path, "XS_DIRECTORY_PART " + path
                            + ": the children list runs past " + DIRECTORY_MAX_BYTES + " bytes (XsRequests.DIRECTORY_MAX_BYTES) without its end");
                }
                children.write(reply, nul + 1, pieceLength);
                // Complete when the list ends in the extra NUL: "\0" alone (no children) or "...\0\0".
                byte last = reply[reply.length - 1];
                byte secondLast = pieceLength >= 2 ? reply[reply.length - 2] : lastSoFar;
                lastSoFar = last;
                if (children.size() == 1 && last == 0) {
                    return List.of();
                }
                if (last == 0 && secondLast == 0) {
                    byte[] all = children.toByteArray();
                    return replyStrings(XsMessageType.DIRECTORY_PART, path, Arrays.copyOf(all, all.length - 1));
                }
            }
        }
        throw new XenstoreException(XsMessageType.DIRECTORY_PART, path, XsError.EAGAIN.name(),
                "node kept changing over " + DIRECTORY_PART_RESTARTS + " attempts");
    }

    @Override
    public List<XsPermission> getPermissions(String path) throws IOException {
        XsPath.requireNodePath(path);
        List<String> strings = replyStrings(XsMessageType.GET_PERMS, path, call(XsMessageType.GET_PERMS, path, XsPayload.strings(path)).payload());
        List<XsPermission> perms = new ArrayList<>(strings.size());
        for (String s : strings) {
            try {
                perms.add(XsPermission.parse(s));
            } catch (IllegalArgumentException e) {
                throw new ProtocolViolationException(connection.peer(), "XS_GET_PERMS " + path, "XS_GET_PERMS " + path + ": " + e.getMessage());
            }
        }
        if (perms.isEmpty()) {
            throw new ProtocolViolationException(connection.peer(), "XS_GET_PERMS " + path, "XS_GET_PERMS " + path + ": empty permission list");
        }
        return List.copyOf(perms);
    }

    @Override
    public void setPermissions(String path, List<XsPermission> permissions) throws IOException {
        XsPath.requireNodePath(path);
        if (permissions.isEmpty()) {
            throw new IllegalArgumentException("a permission list needs at least the owner entry");
        }
        String[] args = new String[permissions.size() + 1];
        args[0] = path;
        for (int i = 0; i < permissions.size(); i++) {
            args[i + 1] = permissions.get(i).toString();
        }
        call(XsMessageType.SET_PERMS, path, checkedSize(XsMessageType.SET_PERMS, XsPayload.strings(args)));
    }

    // --- requests outside the node interface ----------------------------------------------------------

    /** {@code XS_GET_DOMAIN_PATH domid\0} answers e.g. {@code /local/domain/7\0}. */
    String getDomainPath(int domid) throws IOException {
        if (domid < 0 || domid > XsPermission.DOMID_MAX) {
            throw new IllegalArgumentException("domid " + domid + " outside 0.." + XsPermission.DOMID_MAX);
        }
        String domidString = Integer.toString(domid);
        String path = replyString(XsMessageType.GET_DOMAIN_PATH, domidString,
                call(XsMessageType.GET_DOMAIN_PATH, domidString, XsPayload.strings(domidString)).payload());
        if (!XsPath.isValidNodePath(path)) {
            throw new ProtocolViolationException(connection.peer(), "XS_GET_DOMAIN_PATH " + domid, "XS_GET_DOMAIN_PATH " + domid + " answered an invalid path: " + XsPayload.printable(path.getBytes(StandardCharsets.UTF_8), 80));
        }
        return path;
    }

    /** {@code XS_TRANSACTION_START} with an empty string; answers the new id in decimal. */
    int transactionStart() throws IOException {
        String id = replyString(XsMessageType.TRANSACTION_START, null, call(XsMessageType.TRANSACTION_START, null, XsPayload.strings("")).payload());
        long value;
        try {
            value = Long.parseLong(id);
        } catch (NumberFormatException e) {
            value = -1;
        }
        // 0 is XBT_NULL ("no transaction"), so it can never be a transaction's id.
        if (value <= 0 || value > 0xffff_ffffL) {
            throw new ProtocolViolationException(connection.peer(), "XS_TRANSACTION_START", "XS_TRANSACTION_START answered an invalid id: " + XsPayload.printable(id.getBytes(StandardCharsets.UTF_8), 40));
        }
        return (int) value;
    }

    /** {@code XS_TRANSACTION_END "T"} commits, {@code "F"} abandons; either way the transaction is over. */
    void transactionEnd(boolean commit) throws IOException {
        call(XsMessageType.TRANSACTION_END, null, commit ? COMMIT : ABORT);
    }

    /** {@code XS_WATCH path\0token\0}. */
    void watch(String path, String token) throws IOException {
        XsPath.requireWatchPath(path);
        call(XsMessageType.WATCH, path, checkedSize(XsMessageType.WATCH, XsPayload.strings(path, token)));
    }

    /** {@code XS_UNWATCH path\0token\0}. */
    void unwatch(String path, String token) throws IOException {
        call(XsMessageType.UNWATCH, path, XsPayload.strings(path, token));
    }

    // --- plumbing --------------------------------------------------------------------------------------------

    private XsMessage call(XsMessageType type, String path, byte[] payload) throws IOException {
        XsMessage reply = connection.call(type, txId, checkedSize(type, payload), path);
        if (reply.type() == XsMessageType.ERROR) {
            throw new XenstoreException(type, path, errorName(type, path, reply));
        }
        return reply;
    }

    /** The error reply is {@code "ENOENT\0"}; anything but a short upper-case name is a malformed reply. */
    private String errorName(XsMessageType type, String path, XsMessage reply) throws ProtocolViolationException {
        String name = replyString(type, path, reply.payload());
        if (!name.matches("E[A-Z0-9]{1,15}")) {
            throw new ProtocolViolationException(connection.peer(), type.cName(), "XS_ERROR reply to " + type.cName() + " is not an error name: " + XsPayload.printable(reply.payload(), 40));
        }
        return name;
    }

    /** {@link XsPayload#splitStrings} on a reply; a malformed one is named with the request and the peer. */
    private List<String> replyStrings(XsMessageType type, String path, byte[] payload) throws ProtocolViolationException {
        try {
            return XsPayload.splitStrings(payload);
        } catch (ProtocolViolationException e) {
            throw malformed(type, path, e);
        }
    }

    /** {@link XsPayload#singleString} on a reply; a malformed one is named with the request and the peer. */
    private String replyString(XsMessageType type, String path, byte[] payload) throws ProtocolViolationException {
        try {
            return XsPayload.singleString(payload);
        } catch (ProtocolViolationException e) {
            throw malformed(type, path, e);
        }
    }

    private ProtocolViolationException malformed(XsMessageType type, String path, ProtocolViolationException e) {
        String operation = XsConnection.operation(type, path);
        return new ProtocolViolationException(connection.peer(), operation, operation + ": " + e.getMessage(), e);
    }

    /** Refuses before sending: xenstored treats an oversized message as a protocol violation. */
    private static byte[] checkedSize(XsMessageType type, byte[] payload) {
        if (payload.length > XsWire.PAYLOAD_MAX) {
            throw new IllegalArgumentException(type.cName() + " payload of " + payload.length
                    + " bytes exceeds XENSTORE_PAYLOAD_MAX (" + XsWire.PAYLOAD_MAX + ")");
        }
        return payload;
    }

    private static int indexOf(byte[] bytes, byte b) {
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == b) {
                return i;
            }
        }
        return -1;
    }
}
