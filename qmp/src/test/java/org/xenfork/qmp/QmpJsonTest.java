package org.xenfork.qmp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;
import static org.quicktheories.generators.SourceDSL.longs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The streaming-only JSON layer against Jackson's {@link ObjectMapper} as the oracle: random trees written
 * by {@link QmpJson} read back equal, and read by the ObjectMapper equal too; text written by the
 * ObjectMapper parses to the same tree.
 */
class QmpJsonTest {

    private static final ObjectMapper ORACLE = new ObjectMapper();

    private static JsonNode parse(String s) throws IOException {
        return QmpJson.parse(new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8)));
    }

    /** A random tree from {@code seed}: objects, arrays, strings with escapes and non-ASCII, ints, longs, doubles, booleans, nulls. */
    static JsonNode tree(long seed) {
        return node(new Random(seed), 0);
    }

    private static JsonNode node(Random r, int depth) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        int kind = depth > 4 ? 2 + r.nextInt(6) : r.nextInt(8);
        switch (kind) {
            case 0: {
                ObjectNode o = f.objectNode();
                int n = r.nextInt(5);
                for (int i = 0; i < n; i++) {
                    o.set(string(r), node(r, depth + 1));
                }
                return o;
            }
            case 1: {
                ArrayNode a = f.arrayNode();
                int n = r.nextInt(5);
                for (int i = 0; i < n; i++) {
                    a.add(node(r, depth + 1));
                }
                return a;
            }
            case 2:
                return f.textNode(string(r));
            case 3:
                return f.numberNode(r.nextInt());
            case 4:
                return f.numberNode(r.nextLong() | 0x1_0000_0000L);
            case 5:
                return f.numberNode(r.nextDouble() * 1e6);
            case 6:
                return f.booleanNode(r.nextBoolean());
            default:
                return f.nullNode();
        }
    }

    private static String string(Random r) {
        String alphabet = "abcXYZ019 _-\"\\/\n\t\u0001é€😀";
        StringBuilder sb = new StringBuilder();
        int n = r.nextInt(8);
        for (int i = 0; i < n; i++) {
            sb.appendCodePoint(alphabet.codePoints().toArray()[r.nextInt((int) alphabet.codePoints().count())]);
        }
        return sb.toString();
    }

    @Test
    void randomTreesRoundTripAndAgreeWithTheObjectMapper() {
        qt().withFixedSeed(0x716d70L).withExamples(500).forAll(longs().all()).checkAssert(seed -> {
            JsonNode t = tree(seed);
            try {
                byte[] text = QmpJson.write(t);
                assertThat(QmpJson.parse(new ByteArrayInputStream(text))).isEqualTo(t);
                assertThat(ORACLE.readTree(text)).isEqualTo(t);
                assertThat(parse(ORACLE.writeValueAsString(t))).isEqualTo(t);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
    }

    @Test
    void integersKeepTheirWidth() throws IOException {
        qt().withFixedSeed(7).forAll(integers().all()).checkAssert(i -> {
            try {
                assertThat(parse(Integer.toString(i)).isInt()).isTrue();
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        });
        assertThat(parse("4294967296").isLong()).isTrue();
        assertThat(parse("123456789012345678901234567890").isBigInteger()).isTrue();
    }

    @Test
    void oneValueExactly() throws IOException {
        assertThat(parse("  ")).isNull();
        assertThatThrownBy(() -> parse("{} {}")).hasMessageContaining("trailing token");
        assertThatThrownBy(() -> parse("{\"a\":1}}")).isInstanceOf(IOException.class);
        assertThatThrownBy(() -> parse("{\"a\":")).isInstanceOf(IOException.class);
        assertThat(QmpJson.text(parse("{\"a\":[1,true,null,\"x\"]}"))).isEqualTo("{\"a\":[1,true,null,\"x\"]}");
    }
}
