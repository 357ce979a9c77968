package org.xenfork.abi;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads a release's {@code .abi} file: the subset of C that Xen's public headers
 * use for the structs we need, plus two declarations of our own.
 *
 * <pre>
 * #include "file.abi"              // another declaration file in the same folder
 * #define NAME 0x15                // an integer constant (no expressions)
 * typedef uint8_t xen_domain_handle_t[16];
 * struct tag { type name; type name[N]; type name[]; type name : bits;
 *              struct tag name; struct { ... } name; union { ... };   // anonymous (C11)
 *              XEN_GUEST_HANDLE_64(type) name; XEN_GUEST_HANDLE(type) name;
 *              type *name; };                                    // a C pointer: 8 bytes, unsigned
 * UNION_SELECTOR(struct, union, discriminator) { CONSTANT: member; CONSTANT: ; default: member; };
 * DECLARE_HVM_SAVE_TYPE(NAME, code, struct tag);
 * DECLARE_HVM_SAVE_TYPE_COMPAT(NAME, code, struct tag, struct compat_tag, fixup);   // Xen's, fixup ignored
 * DECLARE_HVM_SAVE_TYPE_VARIABLE(NAME, CODE_CONSTANT, struct fixed_part);          // ours: CPU_XSAVE, CPU_MSR
 * </pre>
 *
 * Mistakes in a declaration file are the project's bugs, not user input, so
 * they fail with {@link IllegalStateException} naming file and line.
 */
final class DeclarationParser {

    /** What one file (with its includes) declares. */
    static final class Declarations {
        final Map<String, CType.Record> records = new LinkedHashMap<>();
        final Map<String, CType> typedefs = new LinkedHashMap<>();
        final Map<String, Long> constants = new LinkedHashMap<>();
        final List<SelectorDecl> selectors = new ArrayList<>();
        final List<HvmTypeDecl> hvmTypes = new ArrayList<>();
    }

    record SelectorDecl(String struct, String union, String discriminator, List<String[]> entries, String where) {
    }

    /** {@code compat} is null unless declared with the _COMPAT form. */
    record HvmTypeDecl(String name, int code, String struct, String compat, boolean variableLength, String where) {
    }

    private static final Map<String, CType.Scalar> BUILTINS = Map.ofEntries(
            Map.entry("uint8_t", new CType.Scalar("uint8_t", 1, false, false)),
            Map.entry("uint16_t", new CType.Scalar("uint16_t", 2, false, false)),
            Map.entry("uint32_t", new CType.Scalar("uint32_t", 4, false, false)),
            Map.entry("uint64_t", new CType.Scalar("uint64_t", 8, false, false)),
            Map.entry("int8_t", new CType.Scalar("int8_t", 1, true, false)),
            Map.entry("int16_t", new CType.Scalar("int16_t", 2, true, false)),
            Map.entry("int32_t", new CType.Scalar("int32_t", 4, true, false)),
            Map.entry("int64_t", new CType.Scalar("int64_t", 8, true, false)),
            Map.entry("char", new CType.Scalar("char", 1, true, false)), // signed on x86
            Map.entry("int", new CType.Scalar("int", 4, true, false)),
            Map.entry("unsigned char", new CType.Scalar("unsigned char", 1, false, false)),
            Map.entry("unsigned int", new CType.Scalar("unsigned int", 4, false, false)),
            Map.entry("unsigned long", new CType.Scalar("unsigned long", 8, false, false))); // LP64

    private final Function<String, String> files;
    private final Declarations out = new Declarations();
    private final Set<String> included = new HashSet<>();

    private List<Token> tokens;
    private int pos;
    private String file;

    private DeclarationParser(Function<String, String> files) {
        this.files = files;
    }

    /** Parses {@code name}; {@code files} returns a file's text by name (for includes too). */
    static Declarations parse(String name, Function<String, String> files) {
        DeclarationParser p = new DeclarationParser(files);
        p.parseFile(name);
        return p.out;
    }

    private void parseFile(String name) {
        if (!included.add(name)) {
            return;
        }
        String text = files.apply(name);
        if (text == null) {
            throw new IllegalStateException("declaration file not found: " + name + (file == null ? "" : " (included from " + where() + ")"));
        }
        List<Token> savedTokens = tokens;
        int savedPos = pos;
        String savedFile = file;
        tokens = Token.scan(name, text);
        pos = 0;
        file = name;
        while (!peek().is("<eof>")) {
            topLevel();
        }
        tokens = savedTokens;
        pos = savedPos;
        file = savedFile;
    }

    private void topLevel() {
        Token t = peek();
        if (t.kind == Token.Kind.DIRECTIVE) {
            pos++;
            directive(t);
        } else if (t.is("typedef")) {
            pos++;
            typedef();
        } else if (t.is("UNION_SELECTOR")) {
            pos++;
            selector();
        } else if (t.is("DECLARE_HVM_SAVE_TYPE") || t.is("DECLARE_HVM_SAVE_TYPE_COMPAT")
                || t.is("DECLARE_HVM_SAVE_TYPE_VARIABLE")) {
            pos++;
            hvmType(t.text);
        } else if (t.is("struct") || t.is("union")) {
            typeSpec();
            expect(";");
        } else {
            throw error("unexpected '" + t.text + "'");
        }
    }

    private void directive(Token t) {
        String[] words = t.text.strip().split("\\s+", 3);
        switch (words[0]) {
            case "#include" -> {
                if (words.length != 2 || !words[1].matches("\"[^\"]+\"")) {
                    throw error("#include needs one quoted file name");
                }
                parseFile(words[1].substring(1, words[1].length() - 1));
            }
            case "#define" -> {
                if (words.length != 3) {
                    throw error("#define needs a name and an integer value");
                }
                if (out.constants.containsKey(words[1])) {
                    throw error(words[1] + " defined twice");
                }
                out.constants.put(words[1], parseNumber(words[2].strip()));
            }
            default -> throw error("unknown directive " + words[0]);
        }
    }

    private void typedef() {
        CType base = typeSpec();
        String name = ident();
        CType type;
        if (accept("[")) {
            int n = (int) parseNumber(next().text);
            expect("]");
            type = new CType.ArrayOf(name, base, n);
        } else if (base instanceof CType.Scalar s) {
            type = s.renamed(name);
        } else if (base instanceof CType.ArrayOf a) {
            type = a.renamed(name);
        } else {
            type = base; // a typedef of a record names the same record
        }
        expect(";");
        define(name, type);
    }

    private void define(String name, CType type) {
        if (out.typedefs.containsKey(name) || BUILTINS.containsKey(name)) {
            throw error("type " + name + " defined twice");
        }
        out.typedefs.put(name, type);
    }

    private CType typeSpec() {
        Token t = next();
        if (t.is("struct") || t.is("union")) {
            boolean union = t.is("union");
            String tag = peek().kind == Token.Kind.IDENT ? next().text : null;
            if (!accept("{")) {
                if (tag == null) {
                    throw error("anonymous " + t.text + " needs a body");
                }
                CType.Record known = out.records.get(tag);
                if (known == null || known.union() != union) {
                    throw error("unknown " + t.text + " " + tag + " (declare it before use)");
                }
                return known;
            }
            RecordBuilder rb = new RecordBuilder(tag, union);
            while (!accept("}")) {
                member(rb);
            }
            CType.Record record = rb.build();
            if (tag != null) {
                if (out.records.containsKey(tag)) {
                    throw error(t.text + " " + tag + " defined twice");
                }
                out.records.put(tag, record);
            }
            return record;
        }
        if (t.is("unsigned")) {
            Token w = next();
            CType.Scalar s = BUILTINS.get("unsigned " + w.text);
            if (s == null) {
                throw error("unsupported type 'unsigned " + w.text + "'");
            }
            return s;
        }
        if (t.is("XEN_GUEST_HANDLE_64") || t.is("XEN_GUEST_HANDLE")) {
            // Both are one 8-byte pointer to the tools on x86-64 (arch-x86/xen.h defines the _64 form as the other).
            expect("(");
            String target = ident();
            expect(")");
            return new CType.Scalar(t.text + "(" + target + ")", 8, false, true);
        }
        if (t.kind == Token.Kind.IDENT) {
            CType s = BUILTINS.get(t.text);
            if (s == null) {
                s = out.typedefs.get(t.text);
            }
            if (s == null) {
                throw error("unknown type '" + t.text + "'");
            }
            return s;
        }
        throw error("expected a type, found '" + t.text + "'");
    }

    private void member(RecordBuilder rb) {
        CType type = typeSpec();
        if (accept(";")) {
            if (!(type instanceof CType.Record r) || r.tag() != null) {
                throw error("a member needs a name");
            }
            rb.add(null, type); // C11 anonymous struct or union
            return;
        }
        if (accept("*")) {
            // A user-space pointer in a Linux ioctl struct (privcmd.h): to the layout, an unsigned 8-byte
            // integer; not a guest handle, which C code sets through Xen's set_xen_guest_handle.
            type = new CType.Scalar(type.name() + " *", 8, false, false);
        }
        String name = ident();
        try {
            if (accept("[")) {
                int n = accept("]") ? CType.ArrayOf.FLEXIBLE : (int) parseNumber(next().text);
                if (n != CType.ArrayOf.FLEXIBLE) {
                    expect("]");
                }
                rb.add(name, CType.ArrayOf.of(type, n));
            } else if (accept(":")) {
                rb.addBitfield(name, type, (int) parseNumber(next().text));
            } else {
                rb.add(name, type);
            }
        } catch (IllegalArgumentException e) {
            throw error(e.getMessage());
        }
        expect(";");
    }

    private void selector() {
        String where = where();
        expect("(");
        String struct = ident();
        expect(",");
        String union = ident();
        expect(",");
        String discriminator = ident();
        expect(")");
        expect("{");
        List<String[]> entries = new ArrayList<>();
        while (!accept("}")) {
            String key = ident();
            expect(":");
            String member = peek().kind == Token.Kind.IDENT ? ident() : "";
            expect(";");
            entries.add(new String[] {key, member});
        }
        expect(";");
        out.selectors.add(new SelectorDecl(struct, union, discriminator, entries, where));
    }

    /**
     * {@code DECLARE_HVM_SAVE_TYPE[_COMPAT|_VARIABLE](...)}. The code is a number or,
     * for the variable-length types Xen gives only a {@code *_CODE} macro, a constant
     * defined before this line.
     */
    private void hvmType(String form) {
        String where = where();
        expect("(");
        String name = ident();
        expect(",");
        Token codeToken = next();
        long code;
        if (codeToken.kind == Token.Kind.IDENT) {
            Long value = out.constants.get(codeToken.text);
            if (value == null) {
                throw error("constant " + codeToken.text + " is not defined before this line");
            }
            code = value;
        } else {
            code = parseNumber(codeToken.text);
        }
        expect(",");
        expect("struct");
        String struct = ident();
        String compat = null;
        if (form.endsWith("_COMPAT")) {
            expect(",");
            expect("struct");
            compat = ident();
            expect(",");
            ident(); // Xen's fixup function: what it does is the HVM context codec's to model
        }
        expect(")");
        expect(";");
        out.hvmTypes.add(new HvmTypeDecl(name, (int) code, struct, compat, form.endsWith("_VARIABLE"), where));
    }

    private long parseNumber(String text) {
        try {
            boolean negative = text.startsWith("-");
            String digits = negative ? text.substring(1) : text;
            long v = digits.startsWith("0x") ? Long.parseUnsignedLong(digits.substring(2), 16) : Long.parseLong(digits);
            return negative ? -v : v;
        } catch (NumberFormatException e) {
            throw error("expected an integer, found '" + text + "'");
        }
    }

    private String ident() {
        Token t = next();
        if (t.kind != Token.Kind.IDENT) {
            throw error("expected a name, found '" + t.text + "'");
        }
        return t.text;
    }

    private Token peek() {
        return tokens.get(pos);
    }

    private Token next() {
        Token t = tokens.get(pos);
        if (!t.is("<eof>")) {
            pos++;
        }
        return t;
    }

    private boolean accept(String text) {
        if (peek().is(text)) {
            pos++;
            return true;
        }
        return false;
    }

    private void expect(String text) {
        if (!accept(text)) {
            throw error("expected '" + text + "', found '" + peek().text + "'");
        }
    }

    private String where() {
        return file + ":" + peek().line;
    }

    private IllegalStateException error(String message) {
        return new IllegalStateException(where() + ": " + message);
    }

    /** A token of the declaration language, with the line it starts on. */
    record Token(Kind kind, String text, int line) {
        enum Kind { IDENT, NUMBER, PUNCT, DIRECTIVE, EOF }

        boolean is(String s) {
            return text.equals(s);
        }

        static List<Token> scan(String file, String s) {
            List<Token> out = new ArrayList<>();
            int i = 0;
            int line = 1;
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c == '\n') {
                    line++;
                    i++;
                } else if (Character.isWhitespace(c)) {
                    i++;
                } else if (s.startsWith("/*", i)) {
                    int end = s.indexOf("*/", i + 2);
                    if (end < 0) {
                        throw new IllegalStateException(file + ":" + line + ": unterminated comment");
                    }
                    line += (int) s.substring(i, end).chars().filter(ch -> ch == '\n').count();
                    i = end + 2;
                } else if (s.startsWith("//", i)) {
                    while (i < s.length() && s.charAt(i) != '\n') {
                        i++;
                    }
                } else if (c == '#') {
                    int end = s.indexOf('\n', i);
                    end = end < 0 ? s.length() : end;
                    String text = s.substring(i, end);
                    int comment = text.indexOf("/*");
                    out.add(new Token(Kind.DIRECTIVE, comment < 0 ? text : text.substring(0, comment), line));
                    i = end;
                } else if (Character.isLetter(c) || c == '_') {
                    int j = i;
                    while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                        j++;
                    }
                    out.add(new Token(Kind.IDENT, s.substring(i, j), line));
                    i = j;
                } else if (Character.isDigit(c) || (c == '-' && i + 1 < s.length() && Character.isDigit(s.charAt(i + 1)))) {
                    int j = i + 1;
                    while (j < s.length() && Character.isLetterOrDigit(s.charAt(j))) {
                        j++;
                    }
                    out.add(new Token(Kind.NUMBER, s.substring(i, j), line));
                    i = j;
                } else if ("{}()[];:,*".indexOf(c) >= 0) {
                    out.add(new Token(Kind.PUNCT, String.valueOf(c), line));
                    i++;
                } else {
                    throw new IllegalStateException(file + ":" + line + ": unexpected character '" + c + "'");
                }
            }
            out.add(new Token(Kind.EOF, "<eof>", line));
            return out;
        }
    }
}
