package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What {@link ReleaseListScan} finds, on sample sources. The samples write {@code '} for {@code "} and
 * {@code Vnn} for the release 4.nn (see {@link #java}), so that this file's own strings are no release list
 * for the scan that {@link ReleasesTest} runs over it.
 */
class ReleaseListScanTest {

    /** A test class around {@code member}, with the sample notation turned into Java. */
    private static String java(String member) {
        return ("""
                package x;

                class SampleTest {
                """ + member + """

                }
                """).replace('\'', '"').replaceAll("V(\\d\\d)", "4.$1");
    }

    private static List<String> findings(String member) {
        return ReleaseListScan.scan(java(member)).findings();
    }

    @Test
    void aReleaseTestOnReleasesPasses() {
        ReleaseListScan.Result r = ReleaseListScan.scan(java("""
                @ParameterizedTest(name = 'Xen {0}')
                @MethodSource('org.xenfork.abi.Releases#all')
                void a(String release) { }

                @MethodSource('org.xenfork.abi.Releases#withGrantOpts')
                @ParameterizedTest
                void b(XenRelease r, int x) { }

                static Stream<Arguments> cases() {
                    return Releases.withVarbuf().flatMap(r -> Stream.of(Arguments.of(r, 1)));
                }

                @ParameterizedTest
                @MethodSource('cases')
                void c(final String release, int n) { }

                @Test
                void d() { assertThat(XenRelease.parse('V17')).isNotNull(); }
                """));
        assertThat(r.findings()).isEmpty();
        assertThat(r.releaseTests()).isEqualTo(3);
        assertThat(r.releasesMethods()).containsExactlyInAnyOrder("all", "withGrantOpts", "withVarbuf");
    }

    @Test
    void testsThatDoNotTakeAReleaseAreNotItsBusiness() {
        ReleaseListScan.Result r = ReleaseListScan.scan(java("""
                @ParameterizedTest
                @ValueSource(strings = {'mknod', 'fifo'})
                void a(String kind) { }
                """));
        assertThat(r.findings()).isEmpty();
        assertThat(r.releaseTests()).isZero();
    }

    @Test
    void aReleaseTestOnAnyOtherSourceIsFound() {
        assertThat(findings("""
                @ParameterizedTest
                @ValueSource(strings = {'V17'})
                void a(String release) { }
                """)).singleElement().asString().contains("test a").contains("@ValueSource");
        assertThat(findings("""
                @ParameterizedTest
                @CsvSource({'V17, 1'})
                void a(String release, int n) { }
                """)).singleElement().asString().contains("@CsvSource");
        assertThat(findings("""
                @ParameterizedTest
                @MethodSource('org.xenfork.other.Lists#releases')
                void a(XenRelease xen) { }
                """)).singleElement().asString().contains("org.xenfork.other.Lists#releases");
        assertThat(findings("""
                @ParameterizedTest
                @MethodSource
                void a(String release) { }
                static Stream<String> a() { return XenRelease.SUPPORTED.stream().map(XenRelease::toString); }
                """)).singleElement().asString().contains("\"a\", a factory that does not start from Releases");
        assertThat(findings("""
                static Stream<String> releases() {
                    return Stream.concat(Releases.all(), XenRelease.SUPPORTED.stream().map(Object::toString));
                }
                @ParameterizedTest
                @MethodSource('releases')
                void a(String release) { }
                """)).singleElement().asString().contains("does not start from Releases");
        assertThat(findings("""
                @ParameterizedTest
                @MethodSource('elsewhere')
                void a(String version) { }
                """)).singleElement().asString().contains("no factory of that name");
        assertThat(findings("""
                @ParameterizedTest
                void a(String release) { }
                """)).singleElement().asString().contains("no source annotation");
    }

    @Test
    void listsOfReleasesAreFound() {
        assertThat(findings("""
                @ParameterizedTest
                @ValueSource(strings = {'V14', 'V15'})
                void a(String s) { }
                """)).anySatisfy(f -> assertThat(f).contains("a list of releases"));
        assertThat(findings("""
                @ParameterizedTest
                @CsvSource({'V16, 2', 'V17, 4'})
                void a(String s, int n) { }
                """)).anySatisfy(f -> assertThat(f).contains("a list of releases"));
        for (String list : List.of("List.of", "Set.of", "Stream.of", "Arrays.asList", "Arrays.stream")) {
            assertThat(findings("static Object x = " + list + "('V14',\n 'V16');"))
                    .as(list).singleElement().asString().startsWith("line 4: a list of releases: " + list);
        }
        assertThat(findings("static Object x = List.of(new XenRelease(4, 14), new XenRelease(4, 15));"))
                .singleElement().asString().contains("a list of releases");
    }

    @Test
    void arraysOfReleasesAreFound() {
        assertThat(findings("static String[] RELEASES = {'V14', 'V15'};"))
                .singleElement().asString().contains("an array of releases");
        assertThat(findings("static Object x = new String[] {'V14', 'V15'};"))
                .singleElement().asString().contains("an array of releases");
        assertThat(findings("static Object x = new XenRelease[] {new XenRelease(4, 21), new XenRelease(4, 22)};"))
                .singleElement().asString().contains("an array of releases");
    }

    @Test
    void releasesListedInAStringOrTextBlockAreFound() {
        assertThat(findings("static String s = 'supported are V14, V15';"))
                .singleElement().asString().contains("releases listed inside a string: ").endsWith("4.15");
        assertThat(findings("static String s = 'Xen V14 – V22';"))
                .singleElement().asString().contains("inside a string");
        assertThat(findings("static String s = '''\n        V14\n        V15\n        ''';"))
                .singleElement().asString().contains("inside a string");
        // one release in a string is fine, and so is a comment
        assertThat(findings("static String s = 'Xen V17 only'; // V14, V15 and V16 have none")).isEmpty();
    }

    @Test
    void filtersCutsAndVersionSplitsAreFound() {
        assertThat(findings("static Object x = Releases.all().filter(r -> !r.equals('V20'));"))
                .singleElement().asString().contains("a filter on one release");
        assertThat(findings("static boolean x(String r) { return 'V20'.equals(r); }"))
                .singleElement().asString().contains("a filter on one release");
        assertThat(findings("static boolean x(XenRelease r) { return r.equals(XenRelease.parse('V20')); }"))
                .singleElement().asString().contains("a filter on one release");
        assertThat(findings("static boolean x(XenRelease r) { return r.compareTo(XenRelease.parse('V19')) < 0; }"))
                .singleElement().asString().contains("a filter on one release");
        assertThat(findings("static Object x = XenRelease.SUPPORTED.subList(0, 3);"))
                .singleElement().asString().contains("a cut of the supported releases");
        assertThat(findings("static Object x = XenRelease.SUPPORTED.stream().limit(3);"))
                .singleElement().asString().contains("a cut of the supported releases");
        assertThat(findings("static Object x = Releases.all().skip(1);"))
                .singleElement().asString().contains("a cut of the supported releases");
        assertThat(findings("static int x(XenRelease r) { return r.atLeast(4, 16) ? 112 : 104; }"))
                .singleElement().asString().contains("a version split by number");
        assertThat(findings("static boolean x(XenRelease r) { return r.minor() >= 19; }"))
                .singleElement().asString().contains("a version split by number");
        // but not a filter that reads the declaration, nor another program's version
        assertThat(findings("""
                static Object x = XenRelease.SUPPORTED.stream()
                        .filter(r -> Abi.forRelease(r).struct('hvm_hw_lapic').size() == 32);
                static boolean q(QmpGreeting g) { return g.atLeast(7, 2); }
                """)).isEmpty();
    }

    @Test
    void codeQuotedInAStringOrACommentIsNoCode() {
        assertThat(ReleaseListScan.scan(java("""
                // @ParameterizedTest @ValueSource(strings = {'V14', 'V15'}) void a(String release) { }
                /* XenRelease.SUPPORTED.subList(0, 2); r.atLeast(4, 17) */
                static String s = "@ParameterizedTest void a(String release) { } SUPPORTED.subList(1, 2)";
                """)).findings()).isEmpty();
    }
}
