package org.xenfork.qmp;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.xenfork.testfixtures.FakeQmpServer;

/**
 * What a hostile QMP server can send, for the fuzz tests: QEMU 7.2's own messages (greeting, returns, errors,
 * events with timestamps; docs/QMP.md) bent every way a peer can bend them — ids that are ours, stale, foreign,
 * of the wrong type or out of range; members missing, of the wrong type or doubled; timestamps out of
 * {@link java.time.Instant}'s range or not numbers; strings with control characters and lone surrogates;
 * numbers too long for Jackson; nesting too deep; lines that are not JSON, not UTF-8, over the message bound,
 * cut short; and line ends and read boundaries anywhere. Random JSON values come from {@link QmpJsonTest#tree}.
 *
 * <p>The client numbers its commands 1, 2, 3 … ({@code qmp_capabilities} is 1), so most ids here are small.
 */
final class HostileQmp {

    /** What QEMU 7.2 answers to query-status. */
    private static final String STATUS = "{\"status\": \"running\", \"singlestep\": false, \"running\": true}";

    private final Random r;
    /** The message bound of the client under test: some lines are made to end right at it, or just past it. */
    private final int bound;

    HostileQmp(Random r, int bound) {
        this.r = r;
        this.bound = bound;
    }

    /**
     * A whole script in segments, the first to be sent at once and each next one after the client's next command
     * ({@link FakeQmpServer#script}); each line with its line end, sometimes a torn line last. Half of them follow
     * QEMU's side of a conversation (the greeting and events, then events and the replies to commands 1, 2, 3 in
     * turn) with something bent in it; the others are one segment: a greeting or not, then anything.
     */
    List<byte[]> script() {
        List<byte[]> segments = new ArrayList<>();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (r.nextBoolean()) {
            out.writeBytes(lineEnd(r.nextInt(6) == 0 ? line(Kind.GREETING) : utf8(FakeQmpServer.QEMU_7_2_GREETING)));
            for (int id = 1; id <= 3; id++) {
                while (r.nextInt(3) == 0) {
                    out.writeBytes(lineEnd(r.nextInt(4) == 0 ? line() : line(Kind.EVENT)));
                }
                segments.add(out.toByteArray());
                out.reset();
                while (r.nextInt(4) == 0) {
                    out.writeBytes(lineEnd(r.nextInt(4) == 0 ? line() : line(Kind.EVENT)));
                }
                String reply = switch (r.nextInt(8)) {
                    case 0 -> object(member("error", error()), member("id", Integer.toString(id)));
                    case 1 -> object(member("return", value()), member("id", Integer.toString(id)));
                    case 2 -> object(member("return", value()), idMember());
                    default -> object(member("return", id == 1 ? "{}" : STATUS), member("id", Integer.toString(id)));
                };
                out.writeBytes(lineEnd(r.nextInt(10) == 0 ? mutate(utf8(reply)) : utf8(reply)));
            }
        } else {
            if (r.nextInt(10) < 8) {
                out.writeBytes(lineEnd(r.nextInt(4) == 0 ? line(Kind.GREETING) : utf8(FakeQmpServer.QEMU_7_2_GREETING)));
            }
            for (int i = r.nextInt(8); i > 0; i--) {
                out.writeBytes(lineEnd(line()));
            }
        }
        if (r.nextInt(8) == 0) {
            byte[] torn = line();
            out.write(torn, 0, r.nextInt(torn.length + 1));
        }
        segments.add(out.toByteArray());
        return segments;
    }

    /** The lines of a script without their ends (for decoding one at a time). */
    List<byte[]> lines(int n) {
        List<byte[]> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            lines.add(line());
        }
        return lines;
    }

    enum Kind { GREETING, RETURN, ERROR, EVENT, JUNK }

    byte[] line() {
        int k = r.nextInt(100);
        Kind kind = k < 10 ? Kind.GREETING : k < 35 ? Kind.RETURN : k < 50 ? Kind.ERROR : k < 85 ? Kind.EVENT : Kind.JUNK;
        return line(kind);
    }

    byte[] line(Kind kind) {
        byte[] line = switch (kind) {
            case GREETING -> utf8(greeting());
            case RETURN -> utf8(object(member("return", value()), idMember()));
            case ERROR -> utf8(object(member("error", error()), idMember()));
            case EVENT -> utf8(event());
            case JUNK -> junk();
        };
        return r.nextInt(12) == 0 ? mutate(line) : line;
    }

    // ---- the four kinds, bent ----

    private String greeting() {
        String qemu = object(member("micro", version()), member("minor", version()), member("major", version()));
        String version = r.nextInt(6) == 0 ? value() : object(member("qemu", r.nextInt(8) == 0 ? value() : qemu),
                member("package", r.nextInt(3) == 0 ? value() : string()));
        String caps = r.nextInt(5) == 0 ? value() : "[" + String.join(",", repeat(r.nextInt(4), this::string)) + "]";
        String qmp = r.nextInt(8) == 0 ? value() : object(member("version", version), member("capabilities", caps));
        return object(member("QMP", qmp), r.nextInt(6) == 0 ? member(string(), value()) : null);
    }

    private String version() {
        return switch (r.nextInt(8)) {
            case 0 -> "\"7\"";
            case 1 -> number();
            case 2 -> "-1";
            default -> Integer.toString(r.nextInt(12));
        };
    }

    private String error() {
        if (r.nextInt(8) == 0) {
            return value();
        }
        String cls = switch (r.nextInt(6)) {
            case 0 -> value();
            case 1 -> string();
            default -> quote(new String[] {"GenericError", "CommandNotFound", "DeviceNotFound", "KVMMissingCap"}[r.nextInt(4)]);
        };
        return object(r.nextInt(10) == 0 ? null : member("class", cls), member("desc", r.nextInt(5) == 0 ? value() : string()));
    }

    private String event() {
        String name = r.nextInt(8) == 0 ? value() : r.nextInt(10) == 0 ? "\"\"" : string();
        String data = switch (r.nextInt(6)) {
            case 0 -> null;
            case 1 -> member("data", "null");
            case 2 -> member("data", value());
            default -> member("data", object(member("reason", string()), member("guest", "false")));
        };
        String extra = switch (r.nextInt(8)) {
            case 0 -> idMember();
            case 1 -> member("return", "{}");
            case 2 -> member("error", error());
            default -> null;
        };
        return object(member("event", name), data, r.nextInt(10) == 0 ? null : member("timestamp", timestamp()), extra);
    }

    /** QEMU's {"seconds": S, "microseconds": U}, with values at and past every edge an Instant or a long has. */
    private String timestamp() {
        if (r.nextInt(10) == 0) {
            return value();
        }
        return object(r.nextInt(12) == 0 ? null : member("seconds", timeNumber(true)),
                r.nextInt(12) == 0 ? null : member("microseconds", timeNumber(false)));
    }

    private String timeNumber(boolean seconds) {
        return switch (r.nextInt(28)) {
            case 0 -> Long.toString(Long.MAX_VALUE);
            case 1 -> Long.toString(Long.MIN_VALUE);
            case 2 -> "9223372036854775808";
            case 3 -> "-1";
            case 4 -> Long.toString(java.time.Instant.MAX.getEpochSecond() + r.nextInt(3) - 1);
            case 5 -> Long.toString(java.time.Instant.MIN.getEpochSecond() + r.nextInt(3) - 1);
            case 6 -> Long.toString(r.nextLong());
            case 7 -> Integer.toString(r.nextInt(2_000_001) - 1_000_000);
            case 8 -> "1e300";
            case 9 -> "1700000000.5";
            case 10 -> "\"1700000000\"";
            case 11 -> value();
            default -> seconds ? Long.toString(1_700_000_000L + r.nextInt(1000)) : Integer.toString(r.nextInt(1_000_000));
        };
    }

    private String idMember() {
        return switch (r.nextInt(12)) {
            case 0 -> null;
            case 1 -> member("id", value());
            case 2 -> member("id", "\"" + (1 + r.nextInt(3)) + "\"");
            case 3 -> member("id", Long.toString(r.nextLong()));
            case 4 -> member("id", "18446744073709551617");
            case 5 -> member("id", "1.0");
            case 6 -> member("id", "0");
            case 7 -> member("id", Integer.toString(1 + r.nextInt(3))) + "," + member("id", Integer.toString(1 + r.nextInt(3)));
            default -> member("id", Integer.toString(1 + r.nextInt(4)));
        };
    }

    // ---- values ----

    private String value() {
        return switch (r.nextInt(10)) {
            case 0 -> string();
            case 1 -> number();
            case 2 -> nested();
            case 3 -> "null";
            case 4 -> "{}";
            default -> QmpJson.text(QmpJsonTest.tree(r.nextLong()));
        };
    }

    private String number() {
        return switch (r.nextInt(10)) {
            case 0 -> "1" + "0".repeat(r.nextInt(1100));
            case 1 -> "-0";
            case 2 -> "1e99999";
            case 3 -> "0." + "3".repeat(r.nextInt(1100));
            case 4 -> Long.toString(r.nextLong());
            case 5 -> "9223372036854775808";
            default -> Integer.toString(r.nextInt());
        };
    }

    private String nested() {
        int depth = r.nextInt(4) == 0 ? 900 + r.nextInt(1200) : r.nextInt(60);
        boolean arrays = r.nextBoolean();
        return (arrays ? "[" : "{\"a\":").repeat(depth) + "1" + (arrays ? "]" : "}").repeat(depth);
    }

    /** A JSON string: QEMU's words, control characters, terminal escapes, non-ASCII, lone surrogates, or long. */
    private String string() {
        StringBuilder sb = new StringBuilder("\"");
        int n = r.nextInt(10) == 0 ? r.nextInt(Math.max(1, bound)) : r.nextInt(24);
        String[] pieces = {"a", "Z", "7", " ", "_", "-", "é", "€", "😀", "\\n", "\\r", "\\t", "\\\"", "\\\\", "\\u0000",
                "\\u001b[31m", "\\u009b", "\\ud800", "\\udfff", "\\u2028", "\u001b", "\u0007", "RESUME", "GenericError"};
        for (int i = 0; i < n && sb.length() < n + 1; i++) {
            sb.append(pieces[r.nextInt(pieces.length)]);
        }
        return sb.append('"').toString();
    }

    // ---- not QMP at all ----

    private byte[] junk() {
        return switch (r.nextInt(12)) {
            case 0 -> randomBytes(r.nextInt(64));
            case 1 -> new byte[0];
            case 2 -> utf8(" \t\r ");
            case 3 -> utf8("[1,2]");
            case 4 -> utf8("{\"return\": {}, \"id\": 1} {\"return\": {}, \"id\": 2}");
            case 5 -> utf8("{\"return\": {}, \"error\": {\"class\": \"GenericError\"}, \"id\": 1}");
            case 6 -> utf8(nested());
            case 7 -> utf8("{\"hello\": " + value() + "}");
            case 8 -> exactly(bound + r.nextInt(3) - 1);
            case 9 -> new byte[] {'{', '"', (byte) 0xc3, (byte) 0x28, '"', ':', '1', '}'};
            case 10 -> utf8("SSH-2.0-OpenSSH_9.2");
            default -> utf8(value());
        };
    }

    /** A return of exactly {@code n} bytes (or a shorter line when {@code n} is too small for one). */
    private byte[] exactly(int n) {
        String head = "{\"return\":{},\"id\":" + (1 + r.nextInt(3)) + ",\"pad\":\"";
        int pad = n - head.length() - 2;
        return utf8(pad < 0 ? "{}" : head + "x".repeat(pad) + "\"}");
    }

    /** A byte flipped, inserted or deleted, or the line cut short. */
    private byte[] mutate(byte[] line) {
        if (line.length == 0) {
            return randomBytes(1 + r.nextInt(4));
        }
        int at = r.nextInt(line.length);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        switch (r.nextInt(4)) {
            case 0 -> {
                byte[] copy = line.clone();
                copy[at] = (byte) r.nextInt(256);
                return copy;
            }
            case 1 -> {
                out.write(line, 0, at);
                out.write(r.nextInt(256));
                out.write(line, at, line.length - at);
                return out.toByteArray();
            }
            case 2 -> {
                out.write(line, 0, at);
                out.write(line, at + 1, line.length - at - 1);
                return out.toByteArray();
            }
            default -> {
                return java.util.Arrays.copyOf(line, at);
            }
        }
    }

    /** {@code line} with a line end: CRLF as QEMU, a bare LF, none (glued to the next line), or CR alone. */
    private byte[] lineEnd(byte[] line) {
        String end = switch (r.nextInt(20)) {
            case 0 -> "\n";
            case 1 -> "";
            case 2 -> "\r";
            default -> "\r\n";
        };
        byte[] e = utf8(end);
        byte[] all = java.util.Arrays.copyOf(line, line.length + e.length);
        System.arraycopy(e, 0, all, line.length, e.length);
        return all;
    }

    /** Where the reads cut {@code wire}: chunk lengths summing to its length. */
    int[] chunks(int length) {
        List<Integer> cuts = new ArrayList<>();
        int left = length;
        int max = 1 + (r.nextBoolean() ? r.nextInt(8) : r.nextInt(Math.max(1, length)));
        while (left > 0) {
            int c = Math.min(left, 1 + r.nextInt(max));
            cuts.add(c);
            left -= c;
        }
        return cuts.stream().mapToInt(Integer::intValue).toArray();
    }

    // ---- text helpers ----

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    private List<String> repeat(int n, java.util.function.Supplier<String> s) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(s.get());
        }
        return out;
    }

    /** {"k":v}; a null member is left out, and the members come in a random order. */
    private String object(String... members) {
        List<String> present = new ArrayList<>();
        for (String m : members) {
            if (m != null) {
                present.add(m);
            }
        }
        java.util.Collections.shuffle(present, r);
        return "{" + String.join(", ", present) + "}";
    }

    private static String member(String name, String value) {
        return name.startsWith("\"") ? name + ": " + value : quote(name) + ": " + value;
    }

    private static String quote(String s) {
        return "\"" + s + "\"";
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
