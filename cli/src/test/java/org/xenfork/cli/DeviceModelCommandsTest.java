package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.xenfork.sim.SimXen;
import org.xenfork.testfixtures.FakeQmpServer;
import org.xenfork.testfixtures.TestQemu;

/**
 * {@code save-devices-state}, {@code fork-launch-dm} and {@code fork-vm --launch-dm}
 * at the command line: against a fake QMP server for the faults, a real QEMU for the
 * save itself, and the refusals that must come before anything opens. Launching a
 * QEMU for a real fork is the rig's (RigChecks).
 */
class DeviceModelCommandsTest extends DeviceModelCommandRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    private List<String> leftovers() throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.contains(".part")).toList();
        }
    }

    @Test
    void savesByDomainNameAtomicallyWithMode0600() throws IOException {
        Path file = dir.resolve("p.state");
        Run r = xenfork(CommandRunner::parentAndWeb, "--backend", "sim", "--json", "save-devices-state",
                "--domid", "parent", file.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(file)).startsWith(0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        JsonNode j = JSON.readTree(r.out());
        assertThat(j.get("file").asText()).isEqualTo(file.toString());
        assertThat(j.get("bytes").asLong()).isEqualTo(Files.size(file));
        assertThat(r.err()).contains("saved " + Files.size(file) + " bytes").doesNotContain("running");
        FakeQmpServer.Received save = qmp.received().stream()
                .filter(c -> c.command().equals("xen-save-devices-state")).findFirst().orElseThrow();
        assertThat(save.arguments().get("live").asBoolean()).as("a fork's parent keeps its disks").isFalse();
        Path given = Path.of(save.arguments().get("filename").asText());
        assertThat(given.getFileName().toString()).as("QEMU writes FILE in a private folder beside it").isEqualTo("p.state");
        assertThat(given.getParent().getParent()).isEqualTo(dir);
        assertThat(given.getParent().getFileName().toString()).startsWith(".p.state.").endsWith(".part");
        assertThat(leftovers()).isEmpty();
    }

    @Test
    void liveAndARunningGuestAreSaid() throws IOException {
        qmp.close();
        qmp = FakeQmpServer.start(dir.resolve("run/qmp-libxl-2"));
        Run r = xenfork(CommandRunner::parentAndWeb, "--backend", "sim", "save-devices-state", "--live",
                "--domid", "2", dir.resolve("w.state").toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("domain 2 is running").contains("xenfork pause 2 first");
        assertThat(qmp.received().stream().filter(c -> c.command().equals("xen-save-devices-state"))
                .map(c -> c.arguments().get("live").asBoolean())).containsExactly(true);
    }

    @Test
    void qemuRefusalIsExit1AndLeavesNoFile() throws IOException {
        qmp.inject("xen-save-devices-state", new FakeQmpServer.Fault.ErrorReply("GenericError", "An IO error has occurred"));
        Path file = dir.resolve("p.state");
        Run r = xenfork(CommandRunner::parentAndWeb, "save-devices-state", "--qmp", qmp.socket().toString(),
                file.toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.err()).contains("save the device state (QMP xen-save-devices-state) failed")
                .contains("An IO error has occurred").contains("no file was left at " + file);
        assertThat(file).doesNotExist();
        assertThat(leftovers()).isEmpty();
    }

    @Test
    void qemuGoneMidSaveLeavesNoFile() throws IOException {
        qmp.inject("xen-save-devices-state", new FakeQmpServer.Fault.Disconnect());
        Path file = dir.resolve("p.state");
        Files.writeString(file, "older state, kept");
        Run r = xenfork(CommandRunner::parentAndWeb, "save-devices-state", "--qmp", qmp.socket().toString(),
                file.toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.err()).contains("xen-save-devices-state");
        assertThat(Files.readString(file)).as("a failed save leaves the old file as it was").isEqualTo("older state, kept");
        assertThat(leftovers()).isEmpty();
    }

    @Test
    void savesARealQemusDeviceState() throws IOException {
        try (TestQemu q = TestQemu.builder(dir).name("save").start()) {
            Path file = dir.resolve("real.state");
            Run r = xenfork(CommandRunner::parentAndWeb, "save-devices-state", "--qmp", q.qmpSocket().toString(),
                    file.toString());
            assertThat(r.code()).as(r.err()).isZero();
            byte[] b = Files.readAllBytes(file);
            assertThat(b).startsWith(0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3);
            assertThat(b.length).as("a pc machine's devices").isGreaterThan(10_000);
            assertThat(b[b.length - 1]).as("QEMU_VM_EOF").isZero();
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "save-devices-state --domid 9 x                  | 1 | ESRCH",
        "save-devices-state --domid 2 x                  | 2 | no QMP socket at",
        "save-devices-state --qmp /nonexistent/q x       | 2 | no QMP socket at /nonexistent/q",
        "save-devices-state --qmp /etc/hostname x        | 2 | /etc/hostname is not a Unix socket (it is a regular file)",
        "save-devices-state --qmp /tmp x                 | 2 | /tmp is not a Unix socket (it is a folder)",
        "save-devices-state --qmp /tmp/q /nonexistent/x  | 2 | cannot write /nonexistent/x: no folder /nonexistent",
        "save-devices-state --qmp a --domid 1 x          | 2 | mutually exclusive",
        "save-devices-state x                            | 2 | Missing required argument",
        "save-devices-state --domid 0x zz                | 2 | 0x",
    })
    void saveRefusals(String args, int code, String message) {
        Run r = xenfork(CommandRunner::parentAndWeb, ("--backend sim " + args).split(" "));
        assertThat(r.code()).as(r.err()).isEqualTo(code);
        assertThat(r.err()).contains(message);
    }

    /**
     * Issue 16 item 7: a socket path longer than a Unix socket address holds (sun_path, 108 bytes
     * with the NUL) was exit 1, as if QEMU had refused; it is the user's path, so exit 2. The socket
     * is real, reached through a folder link with a long name.
     */
    @Test
    void anOverLongSocketPathIsExit2() throws IOException {
        Path longFolder = Files.createSymbolicLink(dir.resolve("l".repeat(100)), dir.resolve("run"));
        Path socket = longFolder.resolve("qmp-libxl-1");
        Run r = xenfork(CommandRunner::parentAndWeb, "save-devices-state", "--qmp", socket.toString(),
                dir.resolve("p.state").toString());
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("QMP socket path " + socket + " is " + socket.toString().length()
                + " bytes; a Unix socket address holds at most 107");
        assertThat(qmp.connectionCount()).isZero();
        assertThat(leftovers()).isEmpty();
    }

    @Test
    void launchRefusalsComeBeforeAnyDeviceOpens() throws IOException {
        Path cfg = dir.resolve("f.cfg");
        Files.writeString(cfg, "name = 'f'\ntype = 'hvm'\nmemory = 64\nvif = [ 'bridge=xenbr0' ]\n");
        Path state = dir.resolve("p.state");
        Files.write(state, new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0});
        Path good = dir.resolve("g.cfg");
        Files.writeString(good, "name = 'f'\ntype = 'hvm'\nmemory = 64\n");
        String[][] cases = {
            {"fork-launch-dm", "3"}, {"needs -C CONFIG"},
            {"fork-launch-dm", "-C", cfg.toString(), "-Q", state.toString(), "3"}, {cfg + ":4: vif: network devices"},
            {"fork-launch-dm", "-C", good.toString(), "-Q", cfg.toString(), "3"}, {"QEVM"},
            {"fork-launch-dm", "-C", dir.resolve("none.cfg").toString(), "-Q", state.toString(), "3"}, {"not a regular file"},
            {"--backend", "sim", "fork-launch-dm", "-C", good.toString(), "-Q", state.toString(), "3"}, {"--backend sim has no QEMU"},
            {"fork-vm", "--launch-dm", "yes", "-C", good.toString(), "-Q", state.toString(), "--count", "2", "1"},
            {"--launch-dm yes makes one fork"},
            {"fork-vm", "--launch-dm", "late", "-C", good.toString(), "-Q", state.toString(), "--name", "x", "3"},
            {"--launch-dm late starts a QEMU for an existing fork"},
            {"fork-vm", "-C", good.toString(), "1"}, {"need --launch-dm yes|late"},
        };
        for (int i = 0; i < cases.length; i += 2) {
            Run r = xenfork(CommandRunner::parentAndWeb, cases[i]);
            assertThat(r.code()).as(String.join(" ", cases[i]) + ": " + r.err()).isEqualTo(Main.EXIT_USAGE);
            assertThat(r.err()).contains(cases[i + 1][0]);
            assertThat(sim).as("refused before any hypervisor was opened").isNull();
        }
    }

    /** Issue 16 item 2: a config ending in {@code name =} (no value, no newline) was a stack trace, exit 1. */
    @Test
    void configEndingInNameWithoutValueIsExit2NamingTheLine() throws IOException {
        Path cfg = dir.resolve("f.cfg");
        Files.writeString(cfg, "type = 'hvm'\nmemory = 64\nname =");
        Path state = dir.resolve("p.state");
        Files.write(state, new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0});
        Run r = xenfork(CommandRunner::parentAndWeb, "fork-launch-dm", "-C", cfg.toString(), "-Q", state.toString(),
                "3");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).isEqualTo("xenfork: " + cfg + ":3: the value of name is missing (a \"string\", a number or a "
                + "[list])\n");
    }

    /**
     * Issue 16 item 11: the device_model_args are refused by line unless --allow-dm-args, which then lets
     * the request on to its next check (here the save file).
     */
    @Test
    void deviceModelArgsNeedAllowDmArgs() throws IOException {
        Path cfg = dir.resolve("f.cfg");
        Files.writeString(cfg, "type = 'hvm'\nmemory = 64\nname = 'f'\n"
                + "device_model_args=[\"-serial\",\"stdio\",\"-qmp\",\"tcp:0.0.0.0:4445,server=on,wait=off\"]\n");
        Path junk = dir.resolve("junk.state");
        Files.write(junk, new byte[] {1, 2, 3});
        Run r = xenfork(CommandRunner::parentAndWeb, "fork-launch-dm", "-C", cfg.toString(), "-Q", junk.toString(),
                "3");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).startsWith("xenfork: " + cfg + ":4: device_model_args: \"-serial\" is not passed from a config")
                .contains("--allow-dm-args");
        Run allowed = xenfork(CommandRunner::parentAndWeb, "fork-launch-dm", "--allow-dm-args", "-C", cfg.toString(),
                "-Q", junk.toString(), "3");
        assertThat(allowed.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(allowed.err()).contains("QEVM").doesNotContain("device_model_args");
        Run vm = xenfork(CommandRunner::parentAndWeb, "fork-vm", "--launch-dm", "late", "--allow-dm-args", "-C",
                cfg.toString(), "-Q", junk.toString(), "3");
        assertThat(vm.err()).contains("QEVM");
        Run noDm = xenfork(CommandRunner::parentAndWeb, "fork-vm", "--allow-dm-args", "1");
        assertThat(noDm.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(noDm.err()).contains("need --launch-dm yes|late");
    }

    /** Issue 16 item 11: serial ports that open the host, and a shell as the device model, are refused by line. */
    @Test
    void serialAndOverrideReachingPastTheChecksAreExit2() throws IOException {
        Path state = dir.resolve("p.state");
        Files.write(state, new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0});
        String base = "type = 'hvm'\nmemory = 64\nname = 'f'\n";
        String[][] cases = {
            {"serial = \"file:/etc/passwd\"", ":4: serial = \"file:/etc/passwd\": a fork's serial port may be pty, or "
                + "file:PATH with PATH a file in " + dir.resolve("log")},
            {"serial = \"MON:stdio\"", ":4: serial = \"MON:stdio\""},
            {"device_model_override = \"/bin/sh\"", ":4: device_model_override = \"/bin/sh\": "},
            {"disk = [ 'vdev=hda,target=/img/x,target=/etc/shadow' ]", ":4: disk \"vdev=hda,target=/img/x,target=/etc/"
                + "shadow\": target is given twice"},
        };
        for (String[] c : cases) {
            Path cfg = dir.resolve("f.cfg");
            Files.writeString(cfg, base + c[0] + "\n");
            Run r = xenfork(CommandRunner::parentAndWeb, "fork-launch-dm", "-C", cfg.toString(), "-Q",
                    state.toString(), "3");
            assertThat(r.code()).as(c[0]).isEqualTo(Main.EXIT_USAGE);
            assertThat(r.err()).as(c[0]).startsWith("xenfork: " + cfg + c[1]);
            assertThat(sim).isNull();
        }
    }
}
