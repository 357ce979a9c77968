package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.ReferenceData;

/**
 * The measuring tool of "Adding a release" reproduces committed reference data byte for byte from
 * headers on this machine: Debian's libxen-dev (Xen 4.17), which gave the same records as the
 * RELEASE-4.17.0 tag (abi-data README). Needs gcc and /usr/include/xen, like CHeaderOracleTest; without
 * them it is skipped with a loud message, or fails when {@code -Dxenfork.requireOracle=true} (CI).
 */
class MeasureReleaseTest {

    private static final XenRelease RELEASE = XenRelease.parse("4.17");
    private static final Path XEN_INCLUDE = Path.of("/usr/include/xen");
    private static final String INSTALL_HINT = "apt-get install gcc libxen-dev";

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path work;

    @Test
    void remeasuringDebiansHeadersGivesTheCommittedFiles() throws IOException, InterruptedException {
        requireGccAndHeaders();
        MeasureRelease.Result r = MeasureRelease.measure(XEN_INCLUDE, RELEASE, RELEASE.toString(), "gcc", work);
        assertThat(r.added()).as("nothing to add to or drop from a release's own records").isEmpty();
        assertThat(r.layouts()).isEqualTo(committed("layouts-" + RELEASE + ".jsonl"));
        assertThat(r.golden()).isEqualTo(committed("golden-" + RELEASE + ".jsonl"));
    }

    /** The path a new release takes: the previous release's records as the template, this one's declaration. */
    @Test
    void measuringWithThePreviousReleaseAsTemplateAddsWhatTheDeclarationHas() throws IOException, InterruptedException {
        requireGccAndHeaders();
        MeasureRelease.Result r = MeasureRelease.measure(XEN_INCLUDE, RELEASE, "4.16", "gcc", work);
        // 4.17 added these to what xenfork declares (xen-4.17.abi); the template (4.16) does not have them
        assertThat(r.added()).contains("added: field xen_domctl_createdomain.cpupool_id",
                "added: field xen_sysctl_physinfo.arch_capabilities");
        assertThat(r.layouts()).contains("\"struct\":\"xen_domctl_createdomain\",\"path\":\"cpupool_id\","
                + "\"type\":\"uint32_t\",\"fieldkind\":\"scalar\",\"offset\":52,\"size\":4}");
        assertThat(r.layouts().lines().filter(l -> l.contains("\"kind\":\"const\"")))
                .containsExactlyInAnyOrderElementsOf(committed("layouts-4.17.jsonl").lines()
                        .filter(l -> l.contains("\"kind\":\"const\"")).toList());
    }

    /** A constant the template lacks is added once, where the template's constants end, and measured. */
    @Test
    void aConstantTheTemplateLacksIsAddedOnce() throws IOException, InterruptedException {
        requireGccAndHeaders();
        String name = "XEN_X86_FPU_INITIALISED";
        List<JsonNode> template = ReferenceData.layouts(RELEASE.toString()).stream()
                .filter(r -> !r.path("name").asText().equals(name)).toList();
        MeasureRelease.Result r = MeasureRelease.measure(XEN_INCLUDE, RELEASE, template,
                ReferenceData.golden(RELEASE.toString()), List.of(), "gcc", work);
        assertThat(r.added()).containsExactly("added: constant " + name);
        // the same records, each once (the constant lands where the template's values end, not where it was)
        assertThat(r.layouts().lines()).containsExactlyInAnyOrderElementsOf(
                committed("layouts-" + RELEASE + ".jsonl").lines().toList());
    }

    private static String committed(String name) throws IOException {
        try (InputStream in = ReferenceData.class.getResourceAsStream("abi-data/" + name)) {
            assertThat(in).as(name).isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void requireGccAndHeaders() {
        boolean gcc = false;
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            gcc |= Files.isExecutable(Path.of(dir.isEmpty() ? "." : dir, "gcc"));
        }
        String missing = !gcc ? "gcc is not on PATH"
                : !Files.isRegularFile(XEN_INCLUDE.resolve("domctl.h")) ? XEN_INCLUDE + "/domctl.h is missing" : null;
        if (missing == null) {
            return;
        }
        if (Boolean.getBoolean("xenfork.requireOracle")) {
            fail("the measuring tool's check is required (-Dxenfork.requireOracle=true) but " + missing
                    + "; install with: " + INSTALL_HINT);
        }
        String message = "MeasureReleaseTest SKIPPED: " + missing + "; install with: " + INSTALL_HINT;
        System.err.println("*".repeat(message.length()));
        System.err.println(message);
        System.err.println("*".repeat(message.length()));
        Assumptions.abort(message);
    }
}
