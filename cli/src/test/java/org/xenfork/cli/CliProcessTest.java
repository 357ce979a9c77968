package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.xenfork.testfixtures.FakeQmpServer;
import org.xenfork.testfixtures.HvmSamples;

/**
 * The command line as a process: signals while QEMU saves (issue 16 item 6), a read-only folder
 * (item 7), and a JVM started in the C locale (item 12). bin/xenfork and the tarball's launcher
 * themselves are run by .ci/smoke-cli and dist/test-dist.sh, which need the built jar.
 */
class CliProcessTest {
    @TempDir
    Path dir;

    private List<String> folder(Path p) throws IOException {
        try (var s = Files.list(p)) {
            return s.map(f -> f.getFileName().toString()).sorted().toList();
        }
    }

    /**
     * Ctrl-C or SIGTERM while QEMU saves left {@code .FILE.N.part} (0 bytes, every time). Now the
     * shutdown hook removes the private folder; exit is the signal's (128+N).
     */
    @ParameterizedTest(name = "SIG{0}")
    @CsvSource({"TERM, 143", "INT, 130"})
    void aSignalWhileQemuSavesLeavesNoFile(String signal, int exit) throws Exception {
        try (FakeQmpServer qmp = FakeQmpServer.start(dir.resolve("q.sock"))) {
            qmp.inject("xen-save-devices-state", new FakeQmpServer.Fault.NoReply()); // QEMU still at it
            Path out = Files.createDirectory(dir.resolve("out"));
            List<String> cmd = new ArrayList<>();
            // A terminal's Ctrl-C reaches a process whose SIGINT is at its default; a JVM that inherits
            // SIG_IGN (started from a background job) never installs its handler. Start as from a terminal.
            cmd.addAll(List.of("env", "--default-signal=INT,TERM"));
            cmd.addAll(CliProcess.xenfork("save-devices-state", "--qmp", qmp.socket().toString(),
                    out.resolve("d.state").toString()));
            CliProcess p = CliProcess.start(dir.resolve("logs"), cmd);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!qmp.receivedCommands().contains("xen-save-devices-state")) {
                assertThat(p.isAlive()).as("xenfork ended before it asked QEMU to save: %s", p.stderr()).isTrue();
                assertThat(System.nanoTime()).as("xenfork never asked QEMU to save: %s", p.stderr()).isLessThan(deadline);
                Thread.sleep(20);
            }
            assertThat(folder(out)).as("while QEMU saves, its private folder is there").singleElement()
                    .asString().startsWith(".d.state.").endsWith(".part");
            p.signal(signal);
            CommandRunner.Run r = p.await();
            assertThat(r.code()).as(r.err()).isEqualTo(exit);
            assertThat(folder(out)).as("nothing left after SIG" + signal).isEmpty();
        }
    }

    /**
     * A read-only target folder was exit 1 naming only the temporary path; it is exit 2 naming the
     * folder, for both commands that write. Read-only for real, since root ignores file modes: a
     * read-only bind mount in a private mount namespace, as dist/test-dist.sh makes one.
     */
    @Test
    void aReadOnlyFolderIsExit2NamingIt() throws Exception {
        Path ro = Files.createDirectory(dir.resolve("ro"));
        Path in = Files.write(dir.resolve("in.hvm"), HvmSamples.bytes(HvmSamples.HVM));
        CommandRunner.Run probe = CliProcess.run(dir.resolve("probe"), readOnly(ro, List.of("true")));
        Assumptions.assumeTrue(probe.code() == 0, "cannot make a read-only bind mount here (needs root and "
                + "unshare --mount): " + probe.err());
        try (FakeQmpServer qmp = FakeQmpServer.start(dir.resolve("q.sock"))) {
            CommandRunner.Run set = CliProcess.run(dir.resolve("set"), readOnly(ro, CliProcess.xenfork("hvm-context",
                    "set-reg", in.toString(), "--vcpu", "0", "rax=1", "-o", ro.resolve("out.hvm").toString())));
            assertThat(set.code()).as(set.err()).isEqualTo(Main.EXIT_USAGE);
            assertThat(set.err()).isEqualTo("xenfork: cannot write " + ro.resolve("out.hvm") + ": folder " + ro
                    + " is not writable\n");
            CommandRunner.Run save = CliProcess.run(dir.resolve("save"), readOnly(ro, CliProcess.xenfork(
                    "save-devices-state", "--qmp", qmp.socket().toString(), ro.resolve("d.state").toString())));
            assertThat(save.code()).as(save.err()).isEqualTo(Main.EXIT_USAGE);
            assertThat(save.err()).isEqualTo("xenfork: cannot write " + ro.resolve("d.state") + ": folder " + ro
                    + " is not writable\n");
            assertThat(qmp.connectionCount()).as("QEMU was not asked").isZero();
        }
        assertThat(folder(ro)).isEmpty();
    }

    /** {@code command} with {@code folder} bind-mounted read-only over itself, in a mount namespace of its own. */
    private static List<String> readOnly(Path folder, List<String> command) {
        List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "sh", "-c",
                "mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\" && exec \"$@\"", folder.toString()));
        cmd.addAll(command);
        return cmd;
    }

    /**
     * {@code env -i PATH=/usr/bin:/bin bin/xenfork hvm-context show ctx-ü.bin} was an internal error
     * with a 21-line stack trace: in the C locale Java 17 takes file names as ASCII. The launchers now
     * run Java in a UTF-8 locale (the smoke tests run them); a JVM started without one still ends in a
     * message, exit 2, saying what to do.
     */
    @Test
    void aNonAsciiPathInTheCLocaleIsExit2WithoutAStackTrace() throws Exception {
        Path ctx = Files.write(dir.resolve("ctx-ü.bin"), HvmSamples.bytes(HvmSamples.HVM));
        CommandRunner.Run r = CliProcess.run(dir.resolve("logs"), CliProcess.xenfork("hvm-context", "show", ctx.toString()));
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).startsWith("xenfork: not a usable path: ")
                .contains("Java runs with file names in ANSI_X3.4-1968: run xenfork under a UTF-8 locale, e.g. LC_ALL=C.UTF-8")
                .doesNotContain("internal error").doesNotContain("\tat ");
        assertThat(r.err().lines()).hasSize(1);
    }
}
