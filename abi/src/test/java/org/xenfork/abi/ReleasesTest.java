package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
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

    @SuppressWarnings("unchecked")
    private static List<String> subset(String name) throws ReflectiveOperationException {
        return ((Stream<String>) Releases.class.getMethod(name).invoke(null)).toList();
    }

    /**
     * No test source of any module spells out a list of releases: a list would leave out the next
     * release without anything failing (issue 18). One release named for a single-release behaviour
     * is fine; two or more in one annotation or List.of are not.
     */
    @Test
    void noTestHardCodesAReleaseList() throws IOException {
        Path root = Path.of("").toAbsolutePath().getParent();
        assertThat(root.resolve("abi/pom.xml")).as("the reactor root above %s", Path.of("").toAbsolutePath())
                .isRegularFile();
        Pattern list = Pattern.compile("(ValueSource|CsvSource|List\\.of|Set\\.of|Stream\\.of)\\s*\\([^;]*?"
                + "\"4\\.\\d+[\",][^;]*?\"4\\.\\d+[\",]"
                // or releases listed inside one string, as in an expected message
                + "|\"[^\"\\n]*\\b4\\.\\d+, 4\\.\\d+", Pattern.DOTALL);
        List<String> offenders = new ArrayList<>();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java") && p.toString().contains("/src/test/"))
                    .filter(p -> !p.toString().contains("/target/")).toList()) {
                Matcher m = list.matcher(Files.readString(f));
                while (m.find()) {
                    offenders.add(root.relativize(f) + ": " + m.group().lines().findFirst().orElse(""));
                }
            }
        }
        assertThat(offenders).as("take @MethodSource(\"org.xenfork.abi.Releases#...\") instead").isEmpty();
    }
}
