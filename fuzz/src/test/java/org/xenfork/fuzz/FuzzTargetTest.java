package org.xenfork.fuzz;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The rules a {@link FuzzTarget} holds whatever the domain, and {@link Findings}' folders. */
class FuzzTargetTest {
    @TempDir
    Path dir;

    @Test
    void aValidTargetKeepsWhatItWasGiven() {
        FuzzTarget t = FuzzTarget.physical(5, 0x20000, 64, 0x5020, List.of(0x5010L)).startingAtCpuid(0x13371337L);
        assertThat(t.breakpoints()).containsExactly(0x5020L, 0x5010L);
        assertThat(t.harnessLeaf()).hasValue(0x13371337L);
        assertThat(t.asVirtual().virtual()).isTrue();
    }

    @Test
    void everyRuleNamesWhatWasWrong() {
        assertThatThrownBy(() -> FuzzTarget.physical(0, 0x20000, 64, 0x5020, List.of(0x5010L))).hasMessageContaining("domain");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 0, 0x5020, List.of(0x5010L))).hasMessageContaining("1 to 1048576");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, (1 << 20) + 1, 0x5020, List.of(0x5010L)))
                .hasMessageContaining("1 MiB");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x5020, List.of())).hasMessageContaining("no crash");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x5020, List.of(0x5020L)))
                .hasMessageContaining("0x5020 is the done address too");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x5020, List.of(0x5010L, 0x5010L)))
                .hasMessageContaining("given twice: 0x5010");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x20010, List.of(0x5010L)))
                .hasMessageContaining("inside the input buffer");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x5020, List.of(0x2003fL)))
                .hasMessageContaining("0x2003f is inside");
        assertThat(FuzzTarget.physical(5, 0x20000, 64, 0x20040, List.of(0x1ffffL)).done()).as("just outside").isEqualTo(0x20040);
        assertThatThrownBy(() -> FuzzTarget.physical(5, 1L << 52, 64, 0x5020, List.of(0x5010L)))
                .hasMessageContaining("not guest-physical");
        assertThatThrownBy(() -> FuzzTarget.physical(5, -16, 64, 0x5020, List.of(0x5010L)).asVirtual())
                .hasMessageContaining("past the top of the address space");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x5020, List.of(0x5010L)).withTimeout(Duration.ZERO))
                .hasMessageContaining("1 ms to 1 hour");
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x5020, List.of(0x5010L)).startingAtCpuid(1L << 32))
                .hasMessageContaining("32 bits");
        List<Long> many = new ArrayList<>();
        for (long i = 0; i < 256; i++) {
            many.add(0x100000 + i);
        }
        assertThatThrownBy(() -> FuzzTarget.physical(5, 0x20000, 64, 0x5020, many)).hasMessageContaining("at most 255");
    }

    @Test
    void findingsMakePrivateFoldersAndRefuseAnythingButAFolder() throws IOException {
        Path out = dir.resolve("out");
        Findings f = Findings.in(out);
        assertThat(Files.getPosixFilePermissions(out)).hasSize(3);
        assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(f.hangs())))
                .isEqualTo("rwx------");
        assertThat(f.saveHang(new byte[] {1})).isPresent();
        assertThat(f.saveHang(new byte[] {1})).as("a duplicate").isEmpty();
        assertThat(Findings.hangName(new byte[0])).isEqualTo("hang-e3b0c44298fc1c14"); // SHA-256 of nothing
        Files.createSymbolicLink(dir.resolve("link"), out);
        assertThatThrownBy(() -> Findings.in(dir.resolve("link"))).hasMessageContaining("a symbolic link");
        Files.writeString(dir.resolve("file"), "x");
        assertThatThrownBy(() -> Findings.in(dir.resolve("file"))).hasMessageContaining("a regular file, not a folder");
    }
}
