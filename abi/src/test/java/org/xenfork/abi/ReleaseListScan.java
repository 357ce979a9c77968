package org.xenfork.abi;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads one Java source for the ways a test can choose its own Xen releases, any of which would leave a
 * release added by docs/ABI.md's steps out of it without anything failing (issue 18). {@link ReleasesTest}
 * runs it over every test source of the repository; {@link ReleaseListScanTest} shows what it catches.
 *
 * <p>Two kinds of findings:
 * <ul>
 * <li>structural: a {@code @ParameterizedTest} with a release parameter (a {@link XenRelease}, or a String
 *     named like {@code release}) must take {@code @MethodSource("org.xenfork.abi.Releases#...")}, or a
 *     factory method of its own class whose body starts from {@code Releases} (a release crossed with other
 *     arguments, as {@code GoldenVectorsTest.cases}); any other source (ValueSource, CsvSource, another
 *     class's method, a factory on {@code XenRelease.SUPPORTED}) is a finding;</li>
 * <li>forms, wherever they are: two releases in a {@code ValueSource}, {@code CsvSource}, {@code List.of},
 *     {@code Set.of}, {@code Stream.of}, {@code Arrays.asList} or an array; releases listed inside one string
 *     or text block; a filter on one release ({@code equals("4.17")}, {@code compareTo(XenRelease.parse(…))});
 *     a cut of the supported list by position ({@code SUPPORTED.subList}, {@code Releases.all().limit(…)});
 *     a Xen version split by number ({@code atLeast(4, 17)}, {@code minor() < 20}) instead of a named
 *     predicate of {@code Releases} or a value read from the declaration.</li>
 * </ul>
 * One release named for a behaviour of that release alone ({@code XenRelease.parse("4.17")}) is none of these,
 * and neither is a filter whose predicate reads the declaration ({@code struct("hvm_hw_lapic").size() == 32}).
 * The reading is lexical: comments are left out, and string contents do not count as code.
 */
final class ReleaseListScan {

    static final String RELEASES_SOURCE = "org.xenfork.abi.Releases#";

    /** What one source holds: the findings, and the release-parameterized tests seen (to show it saw any). */
    record Result(List<String> findings, int releaseTests, Set<String> releasesMethods) {
    }

    /** A string literal that starts with a release ("4.17", "4.17|…"), or a XenRelease made from numbers. */
    private static final String REL = "(?:\"4\\.\\d+\\b|new\\s+XenRelease\\s*\\(\\s*\\d+\\s*,\\s*\\d+\\s*\\))";
    private static final String TWO = "[^;]*?" + REL + "[^;]*?" + REL;

    private static final List<Form> FORMS = List.of(
            new Form("a list of releases", Pattern.compile(
                    "\\b(?:ValueSource|CsvSource|List\\.of|Set\\.of|Stream\\.of|Arrays\\.asList|Arrays\\.stream"
                            + "|EnumSet\\.of)\\s*\\(" + TWO, Pattern.DOTALL)),
            new Form("an array of releases", Pattern.compile(
                    "(?:new\\s+(?:String|XenRelease)\\s*\\[\\s*\\]|(?:String|XenRelease)\\s*\\[\\s*\\]\\s*\\w+\\s*=)"
                            + "\\s*\\{[^;}]*?" + REL + "[^;}]*?" + REL, Pattern.DOTALL)),
            new Form("a filter on one release", Pattern.compile(
                    "\\.(?:equals|compareTo)\\s*\\(\\s*(?:\"4\\.\\d+\"|XenRelease\\.parse\\s*\\(\\s*\"4\\.\\d+\""
                            + "|new\\s+XenRelease\\s*\\()"
                            + "|\"4\\.\\d+\"\\s*\\.equals\\s*\\(")),
            new Form("a cut of the supported releases", Pattern.compile(
                    "\\bSUPPORTED\\s*\\.\\s*subList\\s*\\("
                            + "|\\b(?:SUPPORTED\\s*\\.\\s*stream\\s*\\(\\s*\\)|Releases\\s*\\.\\s*\\w+\\s*\\(\\s*\\))"
                            + "\\s*\\.\\s*(?:limit|skip|takeWhile|dropWhile)\\s*\\(")),
            new Form("a version split by number", Pattern.compile(
                    "\\.\\s*atLeast\\s*\\(\\s*4\\s*,|\\.\\s*minor\\s*\\(\\s*\\)\\s*(?:[<>]=?|[=!]=)")));

    /** Releases listed inside one string or text block: "4.14, 4.15", "4.14 4.15", "4.14 – 4.22", … */
    private static final Pattern LISTED_IN_TEXT = Pattern.compile("\\b4\\.\\d+\\b[\\s,;|/\\-–…]+(?:and\\s+|to\\s+)?4\\.\\d+\\b");

    private static final Pattern RELEASE_FIRST = Pattern.compile("4\\.\\d+\\b");
    private static final Pattern RELEASES_CALL = Pattern.compile("\\bReleases\\s*\\.\\s*(\\w+)\\s*\\(");
    private static final Pattern STRING = Pattern.compile("\"((?:[^\"\\\\\\n]|\\\\.)*)\"");
    private static final Pattern IDENT = Pattern.compile("[A-Za-z_$][\\w$]*(?:\\s*\\.\\s*[A-Za-z_$][\\w$]*)*");
    private static final Pattern RELEASE_NAME = Pattern.compile("(?i).*release.*|xen|ver|version");

    private record Form(String what, Pattern pattern) {
    }

    private record Annotation(String name, int start, int end) {
    }

    private ReleaseListScan() {
    }

    static Result scan(String source) {
        Lexed l = lex(source);
        List<String> findings = new ArrayList<>();
        for (Form f : FORMS) {
            Matcher m = f.pattern.matcher(l.forms);
            while (m.find()) {
                findings.add(finding(l, m.start(), f.what + ": " + firstLine(m.group())));
            }
        }
        for (int[] span : l.literals) {
            Matcher m = LISTED_IN_TEXT.matcher(source.substring(span[0], span[1]));
            if (m.find()) {
                findings.add(finding(l, span[0] + m.start(), "releases listed inside a string: " + m.group()));
            }
        }
        int tests = 0;
        Set<String> used = new TreeSet<>();
        Matcher pt = Pattern.compile("@(?:org\\.junit\\.jupiter\\.params\\.)?ParameterizedTest\\b").matcher(l.code);
        while (pt.find()) {
            Method m = method(l, pt.start());
            if (m == null || !m.takesARelease()) {
                continue;
            }
            tests++;
            String why = source(l, m, used);
            if (why != null) {
                findings.add(finding(l, pt.start(), "test " + m.name + " takes its releases from " + why
                        + ", not @MethodSource(\"" + RELEASES_SOURCE + "...\")"));
            }
        }
        return new Result(findings, tests, used);
    }

    /** Null when the test's releases come from Releases, else where they come from. */
    private static String source(Lexed l, Method m, Set<String> used) {
        List<Annotation> sources = m.annotations.stream().filter(a -> a.name.endsWith("Source")
                || a.name.endsWith("Sources")).toList();
        if (sources.isEmpty()) {
            return "no source annotation";
        }
        for (Annotation a : sources) {
            String simple = a.name.substring(a.name.lastIndexOf('.') + 1);
            if (!simple.equals("MethodSource")) {
                return "@" + simple;
            }
            List<String> values = new ArrayList<>();
            Matcher s = STRING.matcher(l.source.substring(a.start, a.end));
            while (s.find()) {
                values.add(s.group(1));
            }
            if (values.isEmpty()) {
                values.add(m.name); // JUnit's default: the factory method named as the test
            }
            for (String v : values) {
                if (v.startsWith(RELEASES_SOURCE)) {
                    used.add(v.substring(RELEASES_SOURCE.length()));
                } else if (v.contains("#")) {
                    return "\"" + v + "\"";
                } else {
                    String body = factoryBody(l, v.replaceAll("\\(.*", ""));
                    if (body == null) {
                        return "\"" + v + "\" (no factory of that name in the file)";
                    }
                    Matcher call = RELEASES_CALL.matcher(body);
                    if (!call.find() || body.contains("SUPPORTED")) {
                        return "\"" + v + "\", a factory that does not start from Releases";
                    }
                    call.reset();
                    while (call.find()) {
                        used.add(call.group(1));
                    }
                }
            }
        }
        return null;
    }

    /** The comment-free body of the method named {@code name} that takes no parameters, or null. */
    private static String factoryBody(Lexed l, String name) {
        Matcher d = Pattern.compile("\\b" + Pattern.quote(name) + "\\s*\\(\\s*\\)\\s*(?:throws\\s[^{;]*)?\\{")
                .matcher(l.code);
        while (d.find()) {
            int open = d.end() - 1;
            int close = balanced(l.code, open, '{', '}');
            if (close > 0) {
                return l.withoutComments.substring(open, close + 1);
            }
        }
        return null;
    }

    private static final class Method {
        String name;
        String parameters;
        final List<Annotation> annotations = new ArrayList<>();

        boolean takesARelease() {
            for (String p : splitTopLevel(parameters)) {
                String q = p.replaceAll("@[\\w.]+(\\s*\\([^)]*\\))?", " ").replaceAll("\\bfinal\\b", " ").strip();
                int sp = q.lastIndexOf(' ');
                if (sp < 0) {
                    continue;
                }
                String type = q.substring(0, sp).replaceAll("\\s+", "");
                String param = q.substring(sp + 1);
                if (type.equals("XenRelease") || type.equals("org.xenfork.abi.XenRelease")
                        || (type.equals("String") || type.equals("java.lang.String"))
                        && RELEASE_NAME.matcher(param).matches()) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * The method that the annotation at {@code at} belongs to: the annotations around it (before and after,
     * in any order) and its parameter list; null when no method follows (the text is not a method).
     */
    private static Method method(Lexed l, int at) {
        String c = l.code;
        Method m = new Method();
        // backwards over the annotations written before this one
        int p = at;
        while (true) {
            int q = skipSpaceBack(c, p);
            int argsStart = -1;
            int argsEnd = -1;
            if (q > 0 && c.charAt(q - 1) == ')') {
                argsEnd = q;
                argsStart = matchingBack(c, q - 1);
                if (argsStart < 0) {
                    break;
                }
                q = skipSpaceBack(c, argsStart);
            }
            int e = q;
            while (q > 0 && (Character.isJavaIdentifierPart(c.charAt(q - 1)) || c.charAt(q - 1) == '.')) {
                q--;
            }
            if (q == e || q == 0 || c.charAt(q - 1) != '@') {
                break;
            }
            m.annotations.add(new Annotation(c.substring(q, e), argsStart < 0 ? e : argsStart,
                    argsEnd < 0 ? e : argsEnd));
            p = q - 1;
        }
        // forwards: this annotation, the ones after it, then the method's name and parameters
        p = at;
        while (true) {
            p = skipSpace(c, p);
            if (p >= c.length()) {
                return null;
            }
            if (c.charAt(p) == '@') {
                Matcher id = IDENT.matcher(c).region(p + 1, c.length());
                if (!id.lookingAt()) {
                    return null;
                }
                String name = id.group().replaceAll("\\s+", "");
                int q = skipSpace(c, id.end());
                int end = id.end();
                if (q < c.length() && c.charAt(q) == '(') {
                    end = balanced(c, q, '(', ')') + 1;
                    if (end <= 0) {
                        return null;
                    }
                }
                m.annotations.add(new Annotation(name, id.end(), end));
                p = end;
                continue;
            }
            int open = c.indexOf('(', p);
            if (open < 0 || c.substring(p, open).matches("(?s).*[;{}=].*")) {
                return null;
            }
            Matcher name = Pattern.compile("([A-Za-z_$][\\w$]*)\\s*$").matcher(c.substring(p, open));
            int close = balanced(c, open, '(', ')');
            if (!name.find() || close < 0) {
                return null;
            }
            m.name = name.group(1);
            m.parameters = l.withoutComments.substring(open + 1, close);
            return m;
        }
    }

    private static List<String> splitTopLevel(String params) {
        List<String> out = new ArrayList<>();
        int depth = 0;
        int from = 0;
        for (int i = 0; i < params.length(); i++) {
            char ch = params.charAt(i);
            if (ch == '<' || ch == '(') {
                depth++;
            } else if (ch == '>' || ch == ')') {
                depth--;
            } else if (ch == ',' && depth == 0) {
                out.add(params.substring(from, i));
                from = i + 1;
            }
        }
        if (!params.isBlank()) {
            out.add(params.substring(from));
        }
        return out;
    }

    private static int skipSpace(String c, int p) {
        while (p < c.length() && Character.isWhitespace(c.charAt(p))) {
            p++;
        }
        return p;
    }

    private static int skipSpaceBack(String c, int p) {
        while (p > 0 && Character.isWhitespace(c.charAt(p - 1))) {
            p--;
        }
        return p;
    }

    /** The index of the bracket closing the one at {@code open}, or -1. */
    private static int balanced(String c, int open, char in, char out) {
        int depth = 0;
        for (int i = open; i < c.length(); i++) {
            if (c.charAt(i) == in) {
                depth++;
            } else if (c.charAt(i) == out && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    /** The index of the '(' that the ')' at {@code close} closes, or -1. */
    private static int matchingBack(String c, int close) {
        int depth = 0;
        for (int i = close; i >= 0; i--) {
            if (c.charAt(i) == ')') {
                depth++;
            } else if (c.charAt(i) == '(' && --depth == 0) {
                return i;
            }
        }
        return -1;
    }

    private static String finding(Lexed l, int offset, String what) {
        int line = 1;
        for (int i = 0; i < offset; i++) {
            if (l.source.charAt(i) == '\n') {
                line++;
            }
        }
        return "line " + line + ": " + what;
    }

    private static String firstLine(String s) {
        return s.lines().findFirst().orElse("").strip();
    }

    /**
     * The source four ways, all of its length so that offsets agree: as written; without comments (blanked);
     * as code only, also without the contents of string, text block and char literals; and that code with the
     * strings that start with a release put back, which is what the forms are looked for in (so that code
     * quoted in a string, as in {@link ReleaseListScanTest}, is not taken for code).
     */
    private record Lexed(String source, String withoutComments, String code, String forms, List<int[]> literals) {
    }

    private static Lexed lex(String s) {
        StringBuilder noComments = new StringBuilder(s);
        StringBuilder code = new StringBuilder(s);
        List<int[]> literals = new ArrayList<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            char ch = s.charAt(i);
            if (ch == '/' && i + 1 < n && s.charAt(i + 1) == '/') {
                int end = s.indexOf('\n', i);
                end = end < 0 ? n : end;
                blank(noComments, i, end);
                blank(code, i, end);
                i = end;
            } else if (ch == '/' && i + 1 < n && s.charAt(i + 1) == '*') {
                int end = s.indexOf("*/", i + 2);
                end = end < 0 ? n : end + 2;
                blank(noComments, i, end);
                blank(code, i, end);
                i = end;
            } else if (s.startsWith("\"\"\"", i)) {
                int from = i + 3;
                int j = from;
                while (j < n && !s.startsWith("\"\"\"", j)) {
                    j += s.charAt(j) == '\\' ? 2 : 1;
                }
                j = Math.min(j, n);
                literals.add(new int[] {from, j});
                blank(code, from, j);
                i = Math.min(j + 3, n);
            } else if (ch == '"' || ch == '\'') {
                int j = i + 1;
                while (j < n && s.charAt(j) != ch && s.charAt(j) != '\n') {
                    j += s.charAt(j) == '\\' ? 2 : 1;
                }
                j = Math.min(j, n);
                if (ch == '"') {
                    literals.add(new int[] {i + 1, j});
                }
                blank(code, i + 1, j);
                i = j + 1;
            } else {
                i++;
            }
        }
        StringBuilder forms = new StringBuilder(code);
        for (int[] span : literals) {
            if (RELEASE_FIRST.matcher(s).region(span[0], span[1]).lookingAt()) {
                forms.replace(span[0], span[1], s.substring(span[0], span[1]));
            }
        }
        return new Lexed(s, noComments.toString(), code.toString(), forms.toString(), literals);
    }

    /** Spaces over [from, to), line breaks kept so that line numbers stay. */
    private static void blank(StringBuilder b, int from, int to) {
        for (int k = from; k < to && k < b.length(); k++) {
            if (b.charAt(k) != '\n') {
                b.setCharAt(k, ' ');
            }
        }
    }
}
