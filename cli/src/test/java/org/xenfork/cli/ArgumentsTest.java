package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.sim.SimXen;

/** What an argument can make xenfork do: only what it says, and never end in a stack trace. */
class ArgumentsTest extends CommandRunner {
    @TempDir
    Path dir;

    /**
     * Issue 16 item 8: picocli expanded {@code @FILE} into FILE's lines, so
     * {@code xenfork pause @/etc/shadow} printed the file's first line in "no domain is named …".
     */
    @Test
    void anAtFileIsAnArgumentNotAFileToRead() throws IOException {
        Path secret = Files.writeString(dir.resolve("shadow"), "root:$6$secret-hash:19000:0:99999:7:::\n");
        String arg = "@" + secret;
        Run r = xenfork(SimXen::create, "--backend", "sim", "pause", arg);
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains(arg).doesNotContain("secret-hash");
        assertThat(r.out()).doesNotContain("secret-hash");
        Run shadow = xenfork(SimXen::create, "--backend", "sim", "pause", "@/etc/shadow");
        assertThat(shadow.err()).contains("@/etc/shadow").doesNotContain("root:");
    }

    /**
     * Issue 16 item 12: a path Java cannot use was an internal error with a 21-line stack trace.
     * A NUL is the one no locale helps with (the ASCII-locale case runs in {@link CliProcessTest}).
     */
    @Test
    void aPathJavaCannotUseIsExit2WithoutAStackTrace() {
        Run r = xenfork(SimXen::create, "hvm-context", "show", "ctx\0.bin");
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).isEqualTo("xenfork: not a usable path: \"ctx\\x00.bin\" (Nul character not allowed)"
                + System.lineSeparator());
    }
}
