package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.xenfork.abi.XenRelease;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimXen;
import org.xenfork.testfixtures.HvmSamples;
import org.xenfork.testfixtures.SpecialFiles;
import org.xenfork.wire.FileKind;

/**
 * Issue 16 item 1, at the command line: {@code hvm-context get|set-reg -o} and
 * {@code save-devices-state FILE} renamed their file over whatever was there; a character
 * device ({@code mknod x c 1 3}), a FIFO and a symbolic link to /proc/self/fd/1 all became
 * regular 0600 files, exit 0. Each is now exit 2 naming it, before any hypercall or QMP
 * command, and is left as it was.
 */
class OutputPathsTest extends DeviceModelCommandRunner {
    /** Domain-0 and "web" (domain 1, HVM, paused). */
    private static SimXen web(XenRelease release) {
        SimXen x = SimXen.create(release);
        x.addGuest(GuestSpec.hvm("web", 1, 4096).paused());
        return x;
    }

    /** The issue's targets, in a folder of their own: name, what they are, and how the refusal says it. */
    private record Target(Path path, FileKind kind, String words) {
    }

    private Target make(String kind) throws Exception {
        Path out = Files.createDirectories(dir.resolve("out"));
        return switch (kind) {
            case "mknod" -> new Target(SpecialFiles.nullDevice(out.resolve("x")), FileKind.CHARACTER_DEVICE,
                    "it is a character device, not a regular file");
            case "fifo" -> new Target(SpecialFiles.fifo(out.resolve("f")), FileKind.FIFO, "it is a FIFO, not a regular file");
            case "stdout-link" -> new Target(Files.createSymbolicLink(out.resolve("o"), Path.of("/proc/self/fd/1")),
                    FileKind.SYMBOLIC_LINK, "it is a symbolic link (to /proc/self/fd/1): the file is renamed into place, "
                    + "which would replace the link itself");
            case "dev-null-link" -> new Target(Files.createSymbolicLink(out.resolve("n"), Path.of("/dev/null")),
                    FileKind.SYMBOLIC_LINK, "it is a symbolic link (to /dev/null)");
            default -> throw new IllegalArgumentException(kind);
        };
    }

    private static void assertLeftAsItWas(Target t, Run r) throws IOException {
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("xenfork: cannot write " + t.path() + ": " + t.words());
        assertThat(FileKind.of(t.path(), LinkOption.NOFOLLOW_LINKS)).contains(t.kind());
        try (var s = Files.list(t.path().getParent())) {
            assertThat(s.toList()).as("nothing written beside it").containsExactly(t.path());
        }
        assertThat(FileKind.of(Path.of("/dev/null"), LinkOption.NOFOLLOW_LINKS)).contains(FileKind.CHARACTER_DEVICE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"mknod", "fifo", "stdout-link", "dev-null-link"})
    void hvmContextGetRefusesAndIssuesNoHypercall(String kind) throws Exception {
        Target t = make(kind);
        Run r = xenfork(OutputPathsTest::web, "--backend", "sim", "hvm-context", "get", "web", "-o", t.path().toString());
        assertLeftAsItWas(t, r);
        assertThat(sim).as("refused before the backend opened").isNull();
    }

    @ParameterizedTest
    @ValueSource(strings = {"mknod", "fifo", "stdout-link", "dev-null-link"})
    void hvmContextSetRegOnAFileRefuses(String kind) throws Exception {
        Target t = make(kind);
        Path in = Files.write(dir.resolve("in.hvm"), HvmSamples.bytes(HvmSamples.HVM));
        Run r = xenfork(SimXen::create, "hvm-context", "set-reg", in.toString(), "--vcpu", "0", "rax=1", "-o",
                t.path().toString());
        assertLeftAsItWas(t, r);
        assertThat(r.out()).as("nothing went to stdout through /proc/self/fd/1").isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"mknod", "fifo", "stdout-link", "dev-null-link"})
    void saveDevicesStateRefusesBeforeAnyQmpCommand(String kind) throws Exception {
        Target t = make(kind);
        Run r = xenfork(OutputPathsTest::web, "--backend", "sim", "save-devices-state", "--domid", "web",
                t.path().toString());
        assertLeftAsItWas(t, r);
        assertThat(qmp.connectionCount()).as("QEMU was not asked").isZero();
        Run q = xenfork(OutputPathsTest::web, "save-devices-state", "--qmp", qmp.socket().toString(), t.path().toString());
        assertLeftAsItWas(t, q);
        assertThat(qmp.connectionCount()).as("QEMU was not asked").isZero();
    }
}
