package org.xenfork.fork.devicemodel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.xenfork.abi.Values;
import org.xenfork.fork.ForkRequestException;

/**
 * An xl domain configuration file, read with xl's grammar (libxlu's
 * {@code libxlu_cfg_y.y}): {@code KEY = VALUE} settings ended by a newline or
 * {@code ;}, where a value is a string ({@code "..."} or {@code '...'}), a number,
 * or a list {@code [ a, b, ]} that may span lines; {@code #} starts a comment.
 * Only the grammar lives here; which keys mean what is {@link DeviceModelConfig}'s.
 *
 * <p>Stricter than xl in two ways: a key set twice is an error (xl keeps the last),
 * because a root tool should not guess which of two disk lists was meant; and the
 * file must be UTF-8 (xl reads bytes), so a value means the same to every reader.
 * Names and numbers are libxlu's tokens, ASCII only: {@code [a-z][_0-9a-z]*} and
 * {@code [0-9][0-9a-fx]*}.
 */
public final class XlConfig {
    /** Larger than any real domain config; a bound so a wrong path cannot fill the heap. */
    public static final int MAX_BYTES = 1 << 20;

    /**
     * One {@code KEY = VALUE}: an atom (string or number, kept as text) or a list of atoms.
     *
     * @param line      where the key is
     * @param itemLines where each list item starts (a list may span lines); empty for an atom
     */
    public record Setting(String key, Optional<String> atom, List<String> list, int line, List<Integer> itemLines) {
        public boolean isList() {
            return atom.isEmpty();
        }

        /** The line of list item {@code index}, or of the key for an atom: what a message about that value names. */
        public int lineOf(int index) {
            return index < itemLines.size() ? itemLines.get(index) : line;
        }
    }

    private final String source;
    private final Map<String, Setting> settings;

    private XlConfig(String source, Map<String, Setting> settings) {
        this.source = source;
        this.settings = Collections.unmodifiableMap(settings);
    }

    /** Reads {@code file} (at most {@link #MAX_BYTES}, a regular file) and parses it. */
    public static XlConfig read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new ForkRequestException("config " + file + ": not a regular file (give an xl domain config)");
        }
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);
        }
        if (bytes.length > MAX_BYTES) {
            throw new ForkRequestException("config " + file + ": larger than " + MAX_BYTES
                    + " bytes; an xl config is a few hundred bytes (is this the right file?)");
        }
        return parse(utf8(bytes, file.toString()), file.toString());
    }

    /** The text of {@code bytes}, or an error naming the line of the first byte that is not UTF-8. */
    private static String utf8(byte[] bytes, String source) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = decoder.decode(in, out, true);
        if (r.isError()) {
            int at = in.position();
            int line = 1;
            for (int i = 0; i < at; i++) {
                line += bytes[i] == '\n' ? 1 : 0;
            }
            throw new ForkRequestException(source + ":" + line + ": byte 0x" + Integer.toHexString(bytes[at] & 0xff)
                    + " is not UTF-8; write the config as UTF-8 text");
        }
        return out.flip().toString();
    }

    /** Parses config text; {@code source} names it in errors. */
    public static XlConfig parse(String text, String source) {
        return new XlConfig(source, new Parser(text, source).settings());
    }

    /** The file (or text) this came from, for messages. */
    public String source() {
        return source;
    }

    /** The settings in file order. */
    public Map<String, Setting> settings() {
        return settings;
    }

    public Optional<Setting> get(String key) {
        return Optional.ofNullable(settings.get(key));
    }

    /** An error at a line of this config, as users read it: {@code fork.cfg:7: ...}. */
    public ForkRequestException error(int line, String message) {
        return new ForkRequestException(source + ":" + line + ": " + message);
    }

    /** A hand-written recursive-descent reader of libxlu's grammar; positions count lines for errors. */
    private static final class Parser {
        private final String text;
        private final String source;
        private int pos;
        private int line = 1;

        Parser(String text, String source) {
            this.text = text;
            this.source = source;
        }

        Map<String, Setting> settings() {
            Map<String, Setting> out = new LinkedHashMap<>();
            while (true) {
                skipBlanks(true);
                if (pos >= text.length()) {
                    return out;
                }
                int at = line;
                String key = identifier();
                skipBlanks(false);
                expect('=', "'=' after " + key);
                skipBlanks(false);
                Setting s;
                if (pos < text.length() && peek() == '[') {
                    pos++;
                    List<Integer> lines = new ArrayList<>();
                    List<String> items = list(lines);
                    s = new Setting(key, Optional.empty(), items, at, List.copyOf(lines));
                } else {
                    s = new Setting(key, Optional.of(atom(key)), List.of(), at, List.of());
                }
                skipBlanks(false);
                if (pos < text.length() && peek() != '\n' && peek() != ';') {
                    throw fail("expected the end of the line after " + key + "'s value, found " + found());
                }
                if (pos < text.length() && peek() == ';') {
                    pos++;
                }
                Setting before = out.putIfAbsent(key, s);
                if (before != null) {
                    throw new ForkRequestException(source + ":" + at + ": " + key + " is set twice (first on line "
                            + before.line() + "); keep one");
                }
            }
        }

        private List<String> list(List<Integer> lines) {
            List<String> items = new ArrayList<>();
            while (true) {
                skipBlanks(true);
                if (pos >= text.length()) {
                    throw fail("the list is not closed with ']'");
                }
                if (peek() == ']') {
                    pos++;
                    return List.copyOf(items);
                }
                lines.add(line);
                items.add(atom("a list item"));
                skipBlanks(true);
                if (pos >= text.length()) {
                    throw fail("the list is not closed with ']'");
                }
                if (peek() == ',') {
                    pos++;
                } else if (peek() != ']') {
                    throw fail("expected ',' or ']' in the list, found " + found());
                }
            }
        }

        /** A string or a number, the value of {@code what}. */
        private String atom(String what) {
            if (pos >= text.length() || peek() == '\n' || peek() == ';' || peek() == '#') {
                throw fail("the value of " + what + " is missing (a \"string\", a number or a [list])");
            }
            char c = peek();
            if (c == '"' || c == '\'') {
                return string(c);
            }
            if (isDigit(c)) {
                int start = pos;
                while (pos < text.length() && (isDigit(peek()) || (peek() >= 'a' && peek() <= 'f') || peek() == 'x')) {
                    pos++;
                }
                return text.substring(start, pos);
            }
            throw fail("expected the value of " + what + " (a \"string\", a number or a [list]), found " + found());
        }

        private String string(char quote) {
            int at = line;
            pos++;
            StringBuilder b = new StringBuilder();
            while (true) {
                if (pos >= text.length() || peek() == '\n') {
                    throw new ForkRequestException(source + ":" + at + ": the string is not closed with " + quote);
                }
                char c = text.charAt(pos++);
                if (c == quote) {
                    return b.toString();
                }
                if (c == '\0') { // a C string (xl's) ends there: what follows would be read by xenfork only
                    throw fail("a NUL character in a string; an xl config is text");
                }
                if (c == '\\') {
                    b.append(escape());
                } else {
                    b.append(c);
                }
            }
        }

        /** libxlu's escapes: the C ones xl configs use. */
        private char escape() {
            if (pos >= text.length()) {
                throw fail("a string ends in a lone backslash");
            }
            char c = text.charAt(pos++);
            return switch (c) {
                case 'n' -> '\n';
                case 't' -> '\t';
                case 'r' -> '\r';
                case '\\', '"', '\'' -> c;
                default -> throw fail("unknown escape " + Values.quoted("\\" + c) + " in a string (use \\\\ for a "
                        + "backslash)");
            };
        }

        /** libxlu's IDENT: a lowercase letter, then lowercase letters, digits and {@code _}. */
        private String identifier() {
            int start = pos;
            if (pos < text.length() && isLower(peek())) {
                pos++;
                while (pos < text.length() && (isLower(peek()) || isDigit(peek()) || peek() == '_')) {
                    pos++;
                }
            }
            if (start == pos) {
                throw fail("expected a setting name (KEY = VALUE, KEY in lowercase letters, digits and _), found "
                        + found());
            }
            return text.substring(start, pos);
        }

        private static boolean isLower(char c) {
            return c >= 'a' && c <= 'z';
        }

        private static boolean isDigit(char c) {
            return c >= '0' && c <= '9';
        }

        /** Skips spaces and comments; newlines too when {@code newlines}. */
        private void skipBlanks(boolean newlines) {
            while (pos < text.length()) {
                char c = peek();
                if (c == '#') {
                    while (pos < text.length() && peek() != '\n') {
                        pos++;
                    }
                } else if (c == '\n' && newlines) {
                    line++;
                    pos++;
                } else if (c == ' ' || c == '\t' || c == '\r' || (c == ';' && newlines)) {
                    pos++;
                } else {
                    return;
                }
            }
        }

        private void expect(char c, String what) {
            if (pos >= text.length() || peek() != c) {
                throw fail("expected " + what + ", found " + found());
            }
            pos++;
        }

        /** The next character; callers check {@code pos < text.length()} first. */
        private char peek() {
            return text.charAt(pos);
        }

        /** What is at {@code pos}, as a message says it: the end of the file or line, or the character quoted. */
        private String found() {
            if (pos >= text.length()) {
                return "the end of the file";
            }
            return peek() == '\n' ? "the end of the line" : Values.quoted(String.valueOf(peek()));
        }

        private ForkRequestException fail(String message) {
            return new ForkRequestException(source + ":" + line + ": " + message);
        }
    }
}
