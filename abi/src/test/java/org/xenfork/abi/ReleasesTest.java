package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The release lists of every module's tests come from {@link Releases}, and its subsets are sound. */
class ReleasesTest {

    @Test
    void allIsEverySupportedRelease() {
        assertThat(Releases.all()).containsExactlyElementsOf(
                XenRelease.SUPPORTED.stream().map(XenRelease::toString).toList());
    }

    /**
     * Each subset and its opposite split SUPPORTED in two, and neither half is empty: an empty
     * {@code @MethodSource} would fail the test anyway, but this names the predicate that went wrong.
     */
    @Test
    void eachSubsetAndItsOppositeSplitTheSupportedReleases() throws ReflectiveOperationException {
        String[][] pairs = {
            {"withGrantOpts", "withoutGrantOpts"},
            {"withForkResetFlags", "withoutForkResetFlags"},
            {"withVarbuf", "withoutVarbuf"},
            {"withVmEventForkReset", "withoutVmEventForkReset"},
            {"withExactGetdomaininfo", "withGetdomaininfoAtOrAbove"},
        };
        List<String> all = Releases.all().toList();
        for (String[] pair : pairs) {
            List<String> yes = subset(pair[0]);
            List<String> no = subset(pair[1]);
            assertThat(yes).as(pair[0]).isNotEmpty();
            assertThat(no).as(pair[1]).isNotEmpty();
            List<String> both = new ArrayList<>(yes);
            both.addAll(no);
            assertThat(both).as("%s + %s", pair[0], pair[1]).containsExactlyInAnyOrderElementsOf(all);
        }
        for (Method m : Releases.class.getDeclaredMethods()) {
            if (Modifier.isPublic(m.getModifiers()) && m.getReturnType() == Stream.class) {
                assertThat(subset(m.getName())).as(m.getName()).isNotEmpty();
            }
        }
    }

    @SuppressWarnings("unchecked") // every public Stream method of Releases is a Stream<String> of releases
    private static List<String> subset(String name) throws ReflectiveOperationException {
        return ((Stream<String>) Releases.class.getMethod(name).invoke(null)).toList();
    }

    /**
     * Every release-parameterized test of every module takes its releases from {@link Releases}, and no test
     * source picks releases itself (issue 18; {@link ReleaseListScan} says what that covers): the test
     * sources of every module, and rig's and bench's sources, which run checks and benchmarks per release.
     * {@code Releases} itself, where the subsets are made, is the one source left out.
     */
    @Test
    void everyReleaseParameterizedTestTakesItsReleasesFromReleases() throws IOException {
        Path root = Path.of("").toAbsolutePath().getParent();
        assertThat(root.resolve("abi/pom.xml")).as("the reactor root above %s", Path.of("").toAbsolutePath())
                .isRegularFile();
        List<Path> trees = new ArrayList<>();
        try (Stream<Path> modules = Files.list(root)) {
            modules.filter(m -> Files.isRegularFile(m.resolve("pom.xml"))).map(m -> m.resolve("src/test"))
                    .filter(Files::isDirectory).forEach(trees::add);
        }
        trees.add(root.resolve("rig/src"));
        trees.add(root.resolve("bench/src"));
        Path self = root.resolve("abi/src/test/java/org/xenfork/abi/Releases.java");
        List<String> offenders = new ArrayList<>();
        Set<String> used = new TreeSet<>();
        int tests = 0;
        int namedInAnnotations = 0;
        for (Path tree : trees) {
            assertThat(tree).isDirectory();
            try (Stream<Path> files = Files.walk(tree)) {
                for (Path f : files.filter(p -> p.toString().endsWith(".java") && !p.equals(self)).toList()) {
                    String source = Files.readString(f);
                    ReleaseListScan.Result r = ReleaseListScan.scan(source);
                    r.findings().forEach(x -> offenders.add(root.relativize(f) + ": " + x));
                    tests += r.releaseTests();
                    used.addAll(r.releasesMethods());
                    namedInAnnotations += (int) ANNOTATED.matcher(source).results().count();
                }
            }
        }
        assertThat(offenders).as("take @MethodSource(\"org.xenfork.abi.Releases#...\") or a named subset there")
                .isEmpty();
        // the scan saw the tests: at least one release-parameterized test per @MethodSource naming Releases
        assertThat(tests).as("release-parameterized tests found").isGreaterThanOrEqualTo(namedInAnnotations)
                .isGreaterThan(50);
        // and each subset a test names is one of Releases' release lists
        assertThat(used).as("the Releases methods the tests name").isSubsetOf(Stream.of(Releases.class.getMethods())
                .filter(m -> Modifier.isStatic(m.getModifiers()) && m.getReturnType() == Stream.class)
                .map(Method::getName).toList());
    }

    private static final Pattern ANNOTATED = Pattern.compile("(?m)^\\s*@MethodSource\\(\"org\\.xenfork\\.abi\\.Releases#");
}
