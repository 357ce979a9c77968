package org.xenfork.testfixtures;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What gcc measured from each supported release's public headers: the layout oracle of the
 * {@code abi} module and the command line's {@code abi} tests. Shipped in this jar under
 * {@code abi-data/} (its README says how each file was made and how to make it again). A
 * missing file is an error naming it, not a skip: these tests are the layout check.
 */
public final class ReferenceData {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ReferenceData() {
    }

    /** {@code layouts-<release>.jsonl}: struct, field, const and hvm_save_type records. */
    public static List<JsonNode> layouts(String release) {
        return jsonLines("abi-data/layouts-" + release + ".jsonl");
    }

    /** {@code golden-<release>.jsonl}: byte-exact encodings made by typed C assignment. */
    public static List<JsonNode> golden(String release) {
        return jsonLines("abi-data/golden-" + release + ".jsonl");
    }

    /** Every line of a JSON-lines resource, parsed. */
    private static List<JsonNode> jsonLines(String resource) {
        List<JsonNode> out = new ArrayList<>();
        for (String line : new String(Resources.read(resource), StandardCharsets.UTF_8).split("\n")) {
            if (!line.isBlank()) {
                try {
                    out.add(JSON.readTree(line));
                } catch (IOException e) {
                    throw new UncheckedIOException("parsing test resource " + resource, e);
                }
            }
        }
        return out;
    }
}
