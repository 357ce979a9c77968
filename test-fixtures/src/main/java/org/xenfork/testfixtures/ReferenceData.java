package org.xenfork.testfixtures;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The gcc-measured reference data in {@code shared/reference/abi-data}: the
 * layout oracle for every release. Found beside the repository
 * ({@code <repo>/../shared/reference}) or at {@code -Dxenfork.reference=DIR} /
 * {@code XENFORK_REFERENCE=DIR}. Missing data is an error, not a skip: these
 * tests are the layout check.
 */
public final class ReferenceData {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ReferenceData() {
    }

    /** The {@code reference} folder. */
    public static Path root() {
        String explicit = System.getProperty("xenfork.reference", System.getenv("XENFORK_REFERENCE"));
        if (explicit != null && !explicit.isBlank()) {
            return existing(Path.of(explicit), "-Dxenfork.reference / XENFORK_REFERENCE");
        }
        String repo = System.getProperty("xenfork.root");
        Path base = repo != null ? Path.of(repo) : Path.of("").toAbsolutePath();
        for (Path p = base.toAbsolutePath(); p != null; p = p.getParent()) {
            Path candidate = p.resolveSibling("shared").resolve("reference");
            if (Files.isDirectory(candidate.resolve("abi-data"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("reference data not found: expected shared/reference/abi-data beside the "
                + "repository (searched upward from " + base.toAbsolutePath() + "); set -Dxenfork.reference=DIR");
    }

    public static Path abiData(String file) {
        return existing(root().resolve("abi-data").resolve(file), "reference file");
    }

    /** Every line of a JSON-lines file, parsed. */
    public static List<JsonNode> jsonLines(Path file) {
        try {
            List<JsonNode> out = new ArrayList<>();
            for (String line : Files.readAllLines(file)) {
                if (!line.isBlank()) {
                    out.add(JSON.readTree(line));
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
    }

    /** {@code layouts-<release>.jsonl}: struct, field, const and hvm_save_type records. */
    public static List<JsonNode> layouts(String release) {
        return jsonLines(abiData("layouts-" + release + ".jsonl"));
    }

    /** {@code golden-<release>.jsonl}: byte-exact encodings made by typed C assignment. */
    public static List<JsonNode> golden(String release) {
        return jsonLines(abiData("golden-" + release + ".jsonl"));
    }

    private static Path existing(Path p, String what) {
        if (!Files.exists(p)) {
            throw new IllegalStateException(what + " does not exist: " + p);
        }
        return p;
    }
}
