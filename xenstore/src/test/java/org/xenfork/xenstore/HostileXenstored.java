package org.xenfork.xenstore;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

/**
 * What a hostile xenstored can send, for the fuzz tests: the replies and watch events of xs_wire.h and
 * docs/misc/xenstore.txt, bent every way a peer can bend them — header types unknown, removed (20), wrong for the
 * request or {@code XS_INVALID}; req ids that are the request's, stale, zero or all ones; tx ids anything;
 * {@code len} short, long, at and past {@code XENSTORE_PAYLOAD_MAX}, all ones; payloads without NULs, with NULs
 * inside, over-long, not UTF-8, of the wrong shape for the request (a transaction id that is no number, a
 * permission that is no permission, a domain path that is no path, an error name that is no name); frames glued,
 * cut short, with a byte changed.
 */
final class HostileXenstored {

    private final Random r;

    HostileXenstored(Random r) {
        this.r = r;
    }

    /** A stream of frames as xenstored could send them unasked (replies to someone, watch events), sometimes cut short. */
    byte[] stream() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = r.nextInt(5); i >= 0; i--) {
            XsMessageType type = r.nextInt(3) == 0 ? XsMessageType.WATCH_EVENT : XsMessageType.values()[r.nextInt(XsMessageType.values().length)];
            out.writeBytes(frame(type, 1 + r.nextInt(4), 0, payload(type)));
        }
        byte[] all = out.toByteArray();
        if (all.length > 0 && r.nextInt(6) == 0) {
            all = Arrays.copyOf(all, r.nextInt(all.length));
        }
        return all;
    }

    /**
     * What xenstored sends in answer to {@code request}: usually a reply in its header and of its type (or
     * {@code XS_ERROR}) with a payload of the shape the request expects, now and then with something bent; watch
     * events and strays before or after it.
     */
    byte[] answer(XsMessage request) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (r.nextInt(5) == 0) {
            out.writeBytes(unasked());
        }
        XsMessageType type = r.nextInt(6) == 0 ? XsMessageType.ERROR : request.type();
        byte[] payload = type == XsMessageType.ERROR ? payload(type) : reply(request);
        out.writeBytes(frame(type, request.reqId(), request.txId(), payload));
        while (r.nextInt(6) == 0) {
            out.writeBytes(unasked());
        }
        byte[] all = out.toByteArray();
        return r.nextInt(30) == 0 ? Arrays.copyOf(all, r.nextInt(all.length + 1)) : all;
    }

    private byte[] unasked() {
        boolean event = r.nextInt(3) > 0;
        XsMessageType type = event ? XsMessageType.WATCH_EVENT : XsMessageType.values()[r.nextInt(XsMessageType.values().length)];
        return frame(type, event ? 0 : r.nextInt(), 0, payload(type));
    }

    /** The payload a well-behaved xenstored would answer {@code request} with, or one of the wrong shape. */
    private byte[] reply(XsMessage request) {
        if (r.nextInt(8) == 0) {
            return payload(XsMessageType.values()[r.nextInt(XsMessageType.values().length)]);
        }
        return switch (request.type()) {
            case DIRECTORY_PART -> directoryPart(request);
            default -> payload(request.type());
        };
    }

    /** {@code generation\0} then a piece of the children list; the last piece ends in an extra NUL. */
    private byte[] directoryPart(XsMessage request) {
        String generation = r.nextInt(5) == 0 ? Integer.toString(r.nextInt(3)) : "7";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(strings(generation));
        switch (r.nextInt(6)) {
            case 0 -> out.writeBytes(strings(""));
            case 1 -> out.writeBytes(bytes(1 + r.nextInt(4000), "abc\0"));
            case 2 -> { }
            default -> {
                out.writeBytes(strings(children()));
                if (r.nextBoolean()) {
                    out.write(0);
                }
            }
        }
        return cap(out.toByteArray());
    }

    /** A payload for a message of {@code type}, of its shape or bent. */
    byte[] payload(XsMessageType type) {
        if (r.nextInt(10) == 0) {
            return anyBytes();
        }
        return switch (type) {
            case READ -> r.nextInt(10) == 0 ? bytes(XsWire.PAYLOAD_MAX, "value") : bytes(r.nextInt(64), "v\u00e9\0\u001b");
            case DIRECTORY -> strings(children());
            case GET_PERMS -> strings(pick(new String[][] {{"n0"}, {"n0", "r5"}, {"b0", "w65535"}, {}, {"x1"}, {"r65536"},
                    {"n00"}, {"r-1"}, {"n"}, {"\u001b[2J"}, {"r99999999999"}}));
            case GET_DOMAIN_PATH -> strings(pick("/local/domain/7", "/local/domain/0", "", "local/domain/7", "/local//domain",
                    "/local/domain/\u001b[31m", "/" + "a".repeat(3100), "/local/domain/7/"));
            case TRANSACTION_START -> strings(pick("1", "42", "4294967295", "0", "-1", "4294967296", "abc", "", "1 ",
                    "99999999999999999999999", "0x10"));
            case ERROR -> strings(pick("ENOENT", "EAGAIN", "E2BIG", "ENOSYS", "EACCES", "EQUIRKY", "eperm", "", "E",
                    "E" + "A".repeat(20), "ENOENT\u001b[2J", "EINVAL\0trailing"));
            case WATCH_EVENT -> switch (r.nextInt(8)) {
                case 0 -> strings("/local/domain/7");
                case 1 -> strings("/a", "tok", "extra");
                case 2 -> bytes(8, "/a\0tok");
                case 3 -> new byte[0];
                case 4 -> strings("@releaseDomain", "xenfork-" + (1 + r.nextInt(3)));
                default -> strings(pick("/local/domain/7/device-model/state", "", "\u001b]0;x\u0007", "relative/path"),
                        pick("xenfork-1", "xenfork-2", "", "tok\u00ff"));
            };
            case TRANSACTION_END, WRITE, MKDIR, RM, SET_PERMS, WATCH, UNWATCH, RESET_WATCHES -> strings(pick("OK", "", "NOT OK"));
            default -> anyBytes();
        };
    }

    /** Child names: real ones, empty, with a slash, with control characters, a great many. */
    private String[] children() {
        int n = r.nextInt(10) == 0 ? 200 + r.nextInt(800) : r.nextInt(6);
        String[] names = new String[n];
        for (int i = 0; i < n; i++) {
            names[i] = pick("0", "7", "name", "device-model", "", "a/b", "..", "\u001b[2J", "x".repeat(r.nextInt(64)));
        }
        return names;
    }

    private byte[] anyBytes() {
        return switch (r.nextInt(5)) {
            case 0 -> new byte[0];
            case 1 -> bytes(XsWire.PAYLOAD_MAX, "\0");
            default -> {
                byte[] b = new byte[r.nextInt(80)];
                r.nextBytes(b);
                yield b;
            }
        };
    }

    /**
     * A header and payload: usually {@code len} is the payload's length; bent, it is short (the rest reads as the
     * next header), long (the next frame's bytes read as payload), at or past XENSTORE_PAYLOAD_MAX, or all ones; the
     * type unknown; the ids anything. Then now and then a byte of the whole frame changed.
     */
    byte[] frame(XsMessageType type, int reqId, int txId, byte[] payload) {
        int code = type.code();
        if (r.nextInt(20) == 0) {
            code = pick(new Integer[] {20, XsMessageType.TYPE_COUNT, XsMessageType.INVALID, -1, r.nextInt()});
        }
        if (r.nextInt(12) == 0) {
            reqId = pick(new Integer[] {0, -1, reqId + 1, reqId - 1, r.nextInt()});
        }
        if (r.nextInt(12) == 0) {
            txId = pick(new Integer[] {0, -1, r.nextInt()});
        }
        long len = payload.length;
        if (r.nextInt(16) == 0) {
            len = pick(new Long[] {len - 1 - r.nextInt(8), len + 1 + r.nextInt(8), (long) XsWire.PAYLOAD_MAX,
                    XsWire.PAYLOAD_MAX + 1L, 0x7fff_ffffL, 0xffff_ffffL, r.nextLong() & 0xffff_ffffL});
            len = Math.max(0, len);
        }
        ByteBuffer b = ByteBuffer.allocate(XsWire.HEADER_SIZE + payload.length).order(XsWire.BYTE_ORDER);
        b.putInt(code).putInt(reqId).putInt(txId).putInt((int) len).put(payload);
        byte[] frame = b.array();
        if (r.nextInt(25) == 0) {
            frame[r.nextInt(frame.length)] = (byte) r.nextInt(256);
        }
        return frame;
    }

    // ---- helpers ----

    @SafeVarargs
    private <T> T pick(T... choices) {
        return choices[r.nextInt(choices.length)];
    }

    /** {@code n} bytes of {@code pattern} over and over. */
    private static byte[] bytes(int n, String pattern) {
        byte[] p = pattern.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
            out[i] = p[i % p.length];
        }
        return out;
    }

    /** Each string and a NUL, cut at XENSTORE_PAYLOAD_MAX (a payload no xenstored could send is no reply at all). */
    private static byte[] strings(String... s) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String one : s) {
            out.writeBytes(one.getBytes(StandardCharsets.UTF_8));
            out.write(0);
        }
        return cap(out.toByteArray());
    }

    private static byte[] cap(byte[] payload) {
        return payload.length > XsWire.PAYLOAD_MAX ? Arrays.copyOf(payload, XsWire.PAYLOAD_MAX) : payload;
    }
}
