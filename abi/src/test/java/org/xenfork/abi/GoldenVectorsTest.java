package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.testfixtures.ReferenceData;

/**
 * Each case of {@code golden-<ver>.jsonl} (values assigned to Xen's structs by
 * typed C assignment, bytes dumped by gcc-built code) encodes to exactly its
 * bytes and decodes back to its values.
 */
class GoldenVectorsTest {

    static Stream<Arguments> cases() {
        return Releases.all().flatMap(r -> ReferenceData.golden(r).stream()
                .map(c -> Arguments.of(r, c.get("case").asText(), c)));
    }

    @ParameterizedTest(name = "Xen {0} {1}")
    @MethodSource("cases")
    void encodesToTheGoldenBytesAndBack(String release, String name, JsonNode golden) {
        StructLayout layout = Abi.forRelease(XenRelease.parse(release)).struct(golden.get("struct").asText());
        assertThat(layout.size()).isEqualTo(golden.get("size").asInt());
        Map<String, String> values = new LinkedHashMap<>();
        golden.get("fields").forEach(f -> values.put(f.get("path").asText(), f.get("value").asText()));

        byte[] bytes = StructCodec.encode(layout, values);
        assertThat(Values.toHex(bytes)).isEqualTo(golden.get("hex").asText());

        Map<String, Long> decoded = StructCodec.decode(layout, Values.fromHex(golden.get("hex").asText()), Optional.empty());
        values.forEach((path, value) ->
                assertThat(Values.hex(decoded.get(path))).as(path).isEqualTo(value));
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void everyReleaseHasGoldenCases(String release) {
        assertThat(ReferenceData.golden(release)).hasSizeGreaterThanOrEqualTo(11);
        Abi abi = Abi.forRelease(XenRelease.parse(release));
        assertThat(ReferenceData.golden(release)).extracting(c -> c.get("case").asText()).as("the monitor ring's cases")
                .containsAll(MeasureRelease.NEW_CASES.stream()
                        .filter(n -> abi.structs().stream().anyMatch(s -> s.name().equals(n.struct())))
                        .map(MeasureRelease.NewCase::name).toList());
    }

}
