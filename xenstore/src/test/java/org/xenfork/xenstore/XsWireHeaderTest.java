package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The C oracle for the wire protocol: a probe compiled by gcc against Xen's own
 * {@code xen/io/xs_wire.h} (Debian's libxen-dev, 4.17) prints every message type,
 * limit and error name, plus the bytes of a {@code struct xsd_sockmsg} it filled
 * in; {@link XsMessageType}, {@link XsWire}, {@link XsError} and
 * {@link XsMessageCodec} must agree with all of it.
 *
 * <p>Without gcc or the header the tests are skipped loudly, or fail under
 * {@code -Dxenfork.requireOracle=true} (CI).
 */
class XsWireHeaderTest {

    private static final Path HEADER = Path.of("/usr/include/xen/io/xs_wire.h");
    private static final String INSTALL_HINT = "apt-get install gcc libxen-dev";

    /** Every XS_ name in xs_wire.h's enum (XS_DEBUG is an alias of XS_CONTROL). */
    private static final List<String> C_TYPES = List.of("XS_CONTROL", "XS_DIRECTORY", "XS_READ", "XS_GET_PERMS",
            "XS_WATCH", "XS_UNWATCH", "XS_TRANSACTION_START", "XS_TRANSACTION_END", "XS_INTRODUCE", "XS_RELEASE",
            "XS_GET_DOMAIN_PATH", "XS_WRITE", "XS_MKDIR", "XS_RM", "XS_SET_PERMS", "XS_WATCH_EVENT", "XS_ERROR",
            "XS_IS_DOMAIN_INTRODUCED", "XS_RESUME", "XS_SET_TARGET", "XS_RESET_WATCHES", "XS_DIRECTORY_PART");

    /*
     * errno.h before xs_wire.h: the xsd_errors[] table is only compiled #ifdef EINVAL.
     * stdint.h because the header uses uint32_t without including it.
     */
    private static final String PROBE_HEAD = """
            #include <errno.h>
            #include <stddef.h>
            #include <stdint.h>
            #include <stdio.h>
            #include <string.h>
            #include <xen/io/xs_wire.h>

            #define TYPE(x) printf("type %s %d\\n", #x, (int)(x));

            int main(void)
            {
                struct xsd_sockmsg m;
                const unsigned char *b = (const unsigned char *)&m;
                size_t i;
            """;

    private static final String PROBE_TAIL = """
                printf("const XS_TYPE_COUNT %d\\n", (int)XS_TYPE_COUNT);
                printf("const XS_INVALID %d\\n", (int)XS_INVALID);
                printf("const XENSTORE_PAYLOAD_MAX %d\\n", XENSTORE_PAYLOAD_MAX);
                printf("const XENSTORE_ABS_PATH_MAX %d\\n", XENSTORE_ABS_PATH_MAX);
                printf("const XENSTORE_REL_PATH_MAX %d\\n", XENSTORE_REL_PATH_MAX);
                printf("const sizeof %zu\\n", sizeof(struct xsd_sockmsg));
                printf("const offsetof_type %zu\\n", offsetof(struct xsd_sockmsg, type));
                printf("const offsetof_req_id %zu\\n", offsetof(struct xsd_sockmsg, req_id));
                printf("const offsetof_tx_id %zu\\n", offsetof(struct xsd_sockmsg, tx_id));
                printf("const offsetof_len %zu\\n", offsetof(struct xsd_sockmsg, len));
                for (i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
                    printf("error %zu %s\\n", i, xsd_errors[i].errstring);
                memset(&m, 0, sizeof(m));
                m.type = XS_TRANSACTION_END;
                m.req_id = 0xfedcba98u;
                m.tx_id = 0x01020304u;
                m.len = 2;
                printf("header ");
                for (i = 0; i < sizeof(m); i++)
                    printf("%02x", b[i]);
                printf("\\n");
                return 0;
            }
            """;

    private static Map<String, Integer> types;
    private static Map<String, Integer> constants;
    private static List<String> errors;
    private static String headerHex;

    @BeforeAll
    static void runProbe(@TempDir Path dir) throws Exception {
        Path gcc = findOnPath("gcc");
        if (gcc == null) {
            skipOrFail("gcc is not installed");
        }
        if (!Files.isRegularFile(HEADER)) {
            skipOrFail(HEADER + " is missing");
        }
        StringBuilder src = new StringBuilder(PROBE_HEAD);
        for (String t : C_TYPES) {
            src.append("    TYPE(").append(t).append(")\n");
        }
        src.append(PROBE_TAIL);
        Path c = dir.resolve("xs_wire_probe.c");
        Path exe = dir.resolve("xs_wire_probe");
        Files.writeString(c, src);
        run(List.of(gcc.toString(), "-std=c99", "-Wall", "-Werror", "-Wno-unused", "-o", exe.toString(), c.toString()), dir);
        String out = run(List.of(exe.toString()), dir);
        types = new LinkedHashMap<>();
        constants = new LinkedHashMap<>();
        errors = new ArrayList<>();
        for (String line : out.split("\n")) {
            String[] f = line.split(" ");
            switch (f[0]) {
                case "type" -> types.put(f[1], Integer.parseInt(f[2]));
                case "const" -> constants.put(f[1], Integer.parseInt(f[2]));
                case "error" -> errors.add(f[2]);
                case "header" -> headerHex = f[1];
                default -> fail("unexpected probe output: " + line);
            }
        }
    }

    @Test
    void everyMessageTypeHasXensValue() {
        assertThat(types).hasSize(C_TYPES.size());
        for (XsMessageType t : XsMessageType.values()) {
            assertThat(types.get(t.cName())).as(t.cName()).isEqualTo(t.code());
        }
        assertThat(XsMessageType.values()).hasSize(C_TYPES.size());
        assertThat(constants).containsEntry("XS_TYPE_COUNT", XsMessageType.TYPE_COUNT)
                .containsEntry("XS_INVALID", XsMessageType.INVALID);
    }

    @Test
    void limitsAreXens() {
        assertThat(constants).containsEntry("XENSTORE_PAYLOAD_MAX", XsWire.PAYLOAD_MAX)
                .containsEntry("XENSTORE_ABS_PATH_MAX", XsWire.ABS_PATH_MAX)
                .containsEntry("XENSTORE_REL_PATH_MAX", XsWire.REL_PATH_MAX)
                .containsEntry("sizeof", XsWire.HEADER_SIZE);
    }

    @Test
    void headerFieldsAreInTheOrderTheCodecWritesThem() {
        assertThat(constants).containsEntry("offsetof_type", 0).containsEntry("offsetof_req_id", 4)
                .containsEntry("offsetof_tx_id", 8).containsEntry("offsetof_len", 12);
    }

    @Test
    void codecWritesTheSameHeaderBytesAsC() {
        ByteBuffer frame = XsMessageCodec.encode(new XsMessage(XsMessageType.TRANSACTION_END, 0xfedcba98, 0x01020304,
                "T\0".getBytes(StandardCharsets.US_ASCII)));
        byte[] header = new byte[XsWire.HEADER_SIZE];
        frame.get(header);
        assertThat(HexFormat.of().formatHex(header)).isEqualTo(headerHex);
    }

    @Test
    void errorNamesAreXensTableInOrder() {
        assertThat(errors).containsExactlyElementsOf(Arrays.stream(XsError.values()).map(Enum::name).toList());
    }

    private static String run(List<String> command, Path dir) throws IOException, InterruptedException {
        Path out = dir.resolve("out.txt");
        Path err = dir.resolve("err.txt");
        Process p = new ProcessBuilder(command).directory(dir.toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(command.get(0) + " did not finish within 60 s");
        }
        if (p.exitValue() != 0) {
            fail(String.join(" ", command) + " exited with " + p.exitValue() + ":\n" + Files.readString(err));
        }
        return Files.readString(out);
    }

    private static Path findOnPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) {
            return null;
        }
        for (String d : path.split(File.pathSeparator)) {
            Path candidate = Path.of(d.isEmpty() ? "." : d, program);
            if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) {
                return candidate;
            }
        }
        return null;
    }

    private static void skipOrFail(String missing) {
        if (Boolean.getBoolean("xenfork.requireOracle")) {
            fail("xs_wire.h oracle required (-Dxenfork.requireOracle=true) but " + missing + "; install with: " + INSTALL_HINT);
        }
        String message = "xs_wire.h oracle SKIPPED: " + missing + "; install with: " + INSTALL_HINT;
        System.err.println("*".repeat(message.length()));
        System.err.println(message);
        System.err.println("*".repeat(message.length()));
        Assumptions.abort(message);
    }
}
