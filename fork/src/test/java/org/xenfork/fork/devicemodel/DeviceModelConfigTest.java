package org.xenfork.fork.devicemodel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.xenfork.fork.ForkRequestException;

class DeviceModelConfigTest {

    private static String resource(String name) throws IOException {
        try (InputStream in = DeviceModelConfigTest.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    /**
     * libxl's own command line for the rig's HVM guest is the oracle: ours equals it, plus -incoming. The
     * guest's serial file is in the rig's shared folder; here both move to a folder the limits allow.
     */
    @Test
    void argumentsAreLibxlsForTheRigGuest(@TempDir Path dir) throws IOException {
        String rigSerials = "/share/out/console";
        DeviceModelConfig cfg = DeviceModelConfig.of(XlConfig.parse(resource("rig-hvm-guest.cfg")
                .replace(rigSerials, dir.toString()), "hp.cfg"), new DeviceModelConfig.Limits(dir, false));
        List<String> libxl = resource("libxl-dm-cmdline-hp-domid1.txt").replace(rigSerials, dir.toString())
                .lines().toList();

        List<String> ours = new ArrayList<>(DeviceModelArgs.build(cfg, 1, Path.of("/var/run/xen")));
        int incoming = ours.indexOf("-incoming");
        assertThat(ours.subList(incoming, incoming + 2)).containsExactly("-incoming", "fd:0");
        ours.subList(incoming, incoming + 2).clear();
        assertThat(ours).containsExactlyElementsOf(libxl);
    }

    @Test
    void readsXlSyntax() {
        XlConfig c = XlConfig.parse("""
                # comment
                name = "a" ; memory = 64   # trailing
                disk = [ 'format=raw,vdev=hda,access=rw,target=/x.img',
                         "format=qcow2,vdev=hdb,target=/y.qcow2", ]
                serial = "file:/tmp/s\\"q"
                """, "t.cfg");
        assertThat(c.get("name").orElseThrow().atom()).hasValue("a");
        assertThat(c.get("memory").orElseThrow().atom()).hasValue("64");
        assertThat(c.get("disk").orElseThrow().list()).hasSize(2);
        assertThat(c.get("disk").orElseThrow().line()).isEqualTo(3);
        assertThat(c.get("serial").orElseThrow().atom()).hasValue("file:/tmp/s\"q");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "name = 'a'\\nname = 'b'             | t.cfg:2: name is set twice (first on line 1)",
        "name = 'a                         | t.cfg:1: the string is not closed",
        "disk = [ 'x'                      | the list is not closed",
        "memory 64                         | t.cfg:1: expected '=' after memory",
        "= 3                               | expected a setting name",
        "name = 'a' 'b'                    | expected the end of the line",
        "s = 'a\\q'                        | unknown escape \"\\\\q\"",
        "name =                            | t.cfg:1: the value of name is missing",
        "name = ;                          | t.cfg:1: the value of name is missing",
        "name = 'a'\\nmemory =\\n             | t.cfg:2: the value of memory is missing",
        "name                              | t.cfg:1: expected '=' after name, found the end of the file",
        "disk = [ 'a',                     | t.cfg:1: the list is not closed",
        "Name = 'a'                        | t.cfg:1: expected a setting name",
        "name = 'a\\u0000b'                  | t.cfg:1: a NUL character in a string",
        "memory = \\u0665\\u0666              | t.cfg:1: expected the value of memory (a \"string\", a number or a [list]), found \"\\u0665\"",
    })
    void syntaxErrorsNameTheLine(String text, String message) {
        String config = text.replace("\\n", "\n").replace("\\u0000", "\0").replace("\\u0665", "\u0665")
                .replace("\\u0666", "\u0666");
        assertThatThrownBy(() -> XlConfig.parse(config, "t.cfg"))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining(message);
    }

    private static final String BASE = "name = 'f'\ntype = 'hvm'\nmemory = 64\n";

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "pci = [ '01:00.0' ]                  | t.cfg:4: pci: xenfork cannot honour this key",
        "vif = [ 'bridge=xenbr0' ]            | t.cfg:4: vif: network devices are not launched",
        "vga = 'stdvga'                       | t.cfg:4: vga = \"stdvga\": a fork's device model has no display",
        "vnc = 1                              | set vnc = 0",
        "device_model_version = 'qemu-xen-traditional' | only qemu-xen",
        "disk = [ 'vdev=xvda,target=/a.img' ] | vdev \"xvda\": use hda to hdd",
        "disk = [ 'vdev=hda,access=ro,target=/a.img' ] | no read-only IDE disks",
        "disk = [ 'vdev=hda,format=vhd,target=/a.img' ] | format \"vhd\": use raw or qcow2",
        "disk = [ 'vdev=hda,target=a.img' ]   | target must be an absolute path",
        "disk = [ 'vdev=hda,script=x,target=/a' ] | \"script\" is not honoured",
        "disk = [ '/a.img,hda,w' ]            | four positional fields",
        "disk = [ 'vdev=hda,devtype=cdrom,target=/a' ] | only hard disks",
        "vcpus = 0                            | vcpus = 0 is out of range",
        "maxmem = 0                           | t.cfg:4: maxmem = 0 is out of range (1 to",
        "maxvcpus = 0                         | maxvcpus = 0 is out of range (1 to",
        "boot = 'x'                           | boot = \"x\": use drive letters",
        "serial = 'stdio'                     | t.cfg:4: serial = \"stdio\": a fork's serial port may be pty, or file:PATH",
        "serial = [ 'pty', 'MON:stdio' ]      | t.cfg:4: serial = \"MON:stdio\": a fork's serial port may be pty",
        "serial = 'file:/etc/passwd'          | t.cfg:4: serial = \"file:/etc/passwd\": a fork's serial port may be pty, or file:PATH with PATH a file in /var/log/xen",
        "serial = 'file:/var/log/xen/../../etc/passwd' | without . or .. parts",
        "serial = 'tcp:0.0.0.0:4444,server=on' | t.cfg:4: serial = \"tcp:0.0.0.0:4444,server=on\"",
        "serial = '/dev/ttyS0'                | t.cfg:4: serial = \"/dev/ttyS0\"",
        "device_model_args = [ '-serial', 'stdio', '-qmp', 'tcp:0.0.0.0:4445,server=on,wait=off' ] | t.cfg:4: device_model_args: \"-serial\" is not passed from a config",
        "device_model_args_hvm = '-monitor stdio' | t.cfg:4: device_model_args_hvm: \"-monitor stdio\" is not passed",
        "device_model_args = [ '-rtc', 'base=utc,file=/x' ] | -rtc takes base=…, clock=…, driftfix=… settings",
        "disk = [ 'vdev=hda,target=/img/x,target=/etc/shadow' ] | t.cfg:4: disk \"vdev=hda,target=/img/x,target=/etc/shadow\": target is given twice (\"/img/x\", then \"/etc/shadow\"); keep one",
        "disk = [ 'vdev=hda,format=raw,FORMAT=qcow2,target=/x' ] | format is given twice",
        "memory2 = 1                          | memory2: xenfork cannot honour",
        "device_model_override = 'qemu'       | t.cfg:4: device_model_override = \"qemu\": give the absolute path",
        "device_model_override = '/no/such/qemu' | t.cfg:4: device_model_override = \"/no/such/qemu\": no such file",
        "device_model_override = '/etc/passwd' | not an executable regular file",
        "maxmem = 0x40                        | t.cfg:4: maxmem = \"0x40\" is not a whole number",
        "maxmem = '99999999999'               | maxmem = \"99999999999\" is not a whole number of at most 9 decimal digits",
        "xen_platform_pci = 'yes'             | is not a whole number",
    })
    void refusesWhatItCannotHonour(String extra, String message) {
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + extra, "t.cfg")))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining(message);
    }

    @Test
    void requiresHvmNameAndMemory() {
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse("name='f'\nmemory=64", "t.cfg")))
                .hasMessageContaining("type = \"\": a device model is for HVM guests");
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse("type='hvm'\nmemory=64", "t.cfg")))
                .hasMessageContaining("name is missing");
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse("type='hvm'\nname='f'", "t.cfg")))
                .hasMessageContaining("memory is missing");
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse("type='hvm'\nname='1f'\nmemory=1", "t.cfg")))
                .hasMessageContaining("name \"1f\"");
    }

    @Test
    void domainBuildKeysAreReadAndIgnored() {
        DeviceModelConfig c = DeviceModelConfig.of(XlConfig.parse(BASE
                + "tsc_mode = 'native'\ncpuid = 'host,rdtscp=0'\non_crash = 'preserve'\nhap = 1\n", "t.cfg"));
        assertThat(DeviceModelArgs.build(c, 7, Path.of("/run/xen"))).doesNotContain("native", "preserve");
    }

    /** An executable file named {@code name} in {@code dir}, which only this user can change. */
    private static Path executable(Path dir, String name) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, "#!/bin/sh\n");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwx------"));
        return f;
    }

    @Test
    void smpPositionalDisksPlatformAndExtraArgs(@TempDir Path dir) throws IOException {
        Path qemu = executable(dir, "qemu-system-i386");
        DeviceModelConfig c = DeviceModelConfig.of(XlConfig.parse(BASE + """
                vcpus = 2
                maxvcpus = 4
                maxmem = 128
                disk = [ '/a.img,raw,hda,rw', 'format=qcow2,vdev=hdc,target=/c.qcow2' ]
                xen_platform_pci = 0
                device_model_args = [ '-rtc', 'base=utc' ]
                device_model_args_hvm = '-S'
                device_model_override = '%s'
                """.formatted(qemu), "t.cfg"));
        List<String> a = DeviceModelArgs.build(c, 9, Path.of("/run/xen"));
        assertThat(a.get(0)).isEqualTo(qemu.toString());
        assertThat(String.join(" ", a)).contains("-smp 2,maxcpus=4", "-m 128", "-machine pc,accel=xen,suppress-vmdesc=on",
                "-rtc base=utc -S -incoming fd:0",
                "-drive file=/a.img,if=ide,index=0,media=disk,format=raw,cache=writeback",
                "-drive file=/c.qcow2,if=ide,index=2,media=disk,format=qcow2,cache=writeback",
                "path=/run/xen/qmp-libxl-9,", "path=/run/xen/qmp-libxenstat-9,");
    }

    @Test
    void readIsBounded(@TempDir Path dir) throws IOException {
        Path big = dir.resolve("big.cfg");
        Files.write(big, new byte[XlConfig.MAX_BYTES + 1]);
        assertThatThrownBy(() -> XlConfig.read(big)).hasMessageContaining("larger than " + XlConfig.MAX_BYTES);
        assertThatThrownBy(() -> XlConfig.read(dir)).hasMessageContaining("not a regular file");
    }

    /** Issue 16 item 2: a config whose last line is {@code name =}, no value and no newline, read from its file. */
    @Test
    void configEndingInNameWithoutValueIsRefusedByLine(@TempDir Path dir) throws IOException {
        Path cfg = dir.resolve("fork.cfg");
        Files.writeString(cfg, "type = 'hvm'\nmemory = 64\nname =");
        assertThatThrownBy(() -> XlConfig.read(cfg)).isInstanceOf(ForkRequestException.class)
                .hasMessage(cfg + ":3: the value of name is missing (a \"string\", a number or a [list])");
    }

    @Test
    void configThatIsNotUtf8IsRefusedByLine(@TempDir Path dir) throws IOException {
        Path cfg = dir.resolve("fork.cfg");
        Files.write(cfg, new byte[] {'t', 'y', 'p', 'e', '=', '"', 'h', 'v', 'm', '"', '\n', 'n', 'a', 'm', 'e', '=', '"',
            (byte) 0xff, '"', '\n'});
        assertThatThrownBy(() -> XlConfig.read(cfg)).isInstanceOf(ForkRequestException.class)
                .hasMessage(cfg + ":2: byte 0xff is not UTF-8; write the config as UTF-8 text");
    }

    /** A value that is cut in a message: its length said, its control characters escaped. */
    @Test
    void messagesQuoteValuesShortAndPrintable() {
        String longName = "n\u0007" + "x".repeat(1_000_000);
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse("type='hvm'\nmemory=1\nname='" + longName + "'",
                "t.cfg"))).message().startsWith("t.cfg:3: name \"n\\u0007xxx").contains("... (1000002 characters)")
                .hasSizeLessThan(300);
    }

    /** Issue 16 item 11, each with the line named: the device_model_args pass only with --allow-dm-args. */
    @Test
    void extraArgsPassOnlyWhenRootAllowsThem() {
        String args = BASE + "device_model_args = [\n  '-serial', 'stdio',\n  '-qmp', 'tcp:0.0.0.0:4445,server=on,wait=off' ]\n";
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(args, "t.cfg")))
                .hasMessageStartingWith("t.cfg:5: device_model_args: \"-serial\" is not passed from a config")
                .hasMessageContaining("--allow-dm-args");
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_args = [\n '-S',\n '-qmp',"
                + " 'tcp:0.0.0.0:4445' ]", "t.cfg"))).hasMessageStartingWith("t.cfg:6: device_model_args: \"-qmp\"");
        DeviceModelConfig allowed = DeviceModelConfig.of(XlConfig.parse(args, "t.cfg"),
                new DeviceModelConfig.Limits(Path.of("/var/log/xen"), true));
        assertThat(allowed.extraArgs()).containsExactly("-serial", "stdio", "-qmp", "tcp:0.0.0.0:4445,server=on,wait=off");
        assertThat(DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_args = [ '-S', '-rtc', "
                + "'base=2024-01-02T03:04:05,clock=vm,driftfix=slew' ]", "t.cfg")).extraArgs()).hasSize(3);
    }

    @Test
    void overrideMustBeAQemuOnlyRootOrYouCanChange(@TempDir Path dir) throws IOException {
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_override = \"/bin/sh\"",
                "t.cfg"))).isInstanceOf(ForkRequestException.class)
                .hasMessageStartingWith("t.cfg:4: device_model_override = \"/bin/sh\": " + Path.of("/bin/sh").toRealPath()
                        + " is not named as a QEMU");
        Path open = Files.createDirectory(dir.resolve("open"));
        Path qemu = executable(open, "qemu");
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_override = '" + qemu + "'",
                "t.cfg"))).hasMessageContaining("xenfork would run as root a file others can change: " + open
                + " is writable by everyone");
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxr-xr-x"));
        Files.setPosixFilePermissions(qemu, PosixFilePermissions.fromString("rwxrwxr-x"));
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_override = '" + qemu + "'",
                "t.cfg"))).hasMessageContaining(qemu + " is writable by its group");
        Files.setPosixFilePermissions(qemu, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path link = Files.createSymbolicLink(dir.resolve("qemu-link"), Path.of("/bin/sh"));
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_override = '" + link + "'",
                "t.cfg"))).hasMessageContaining("is not named as a QEMU");
        assertThat(DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_override = '" + qemu + "'", "t.cfg"))
                .binary()).isEqualTo(qemu);
        // A link in a folder anyone can write, to a trusted QEMU: whoever owns that folder could point the link
        // at their own program between the check and QEMU's start, so what runs is the path checked, not the link.
        Path shared = Files.createDirectory(dir.resolve("shared"));
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path swappable = Files.createSymbolicLink(shared.resolve("qemu"), qemu);
        assertThat(DeviceModelConfig.of(XlConfig.parse(BASE + "device_model_override = '" + swappable + "'", "t.cfg"))
                .binary()).isEqualTo(qemu.toRealPath());
    }

    @Test
    void serialFileMustBeARegularFileInTheLogFolder(@TempDir Path dir) throws IOException {
        Path logs = Files.createDirectory(dir.resolve("log"));
        DeviceModelConfig.Limits limits = new DeviceModelConfig.Limits(logs, false);
        assertThat(DeviceModelConfig.of(XlConfig.parse(BASE + "serial = [ 'pty', 'file:" + logs.resolve("f.log") + "' ]",
                "t.cfg"), limits).serials()).containsExactly("pty", "file:" + logs.resolve("f.log"));
        Files.createSymbolicLink(logs.resolve("passwd"), Path.of("/etc/passwd"));
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "serial = [ 'pty',\n'file:"
                + logs.resolve("passwd") + "' ]", "t.cfg"), limits))
                .hasMessageStartingWith("t.cfg:5: serial = \"file:" + logs.resolve("passwd") + "\": " + logs.resolve("passwd")
                        + " exists and is not a regular file");
        Files.createSymbolicLink(logs.resolve("etc"), Path.of("/etc"));
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "serial = 'file:" + logs.resolve("etc/x")
                + "'", "t.cfg"), limits)).hasMessageContaining("leads out of " + logs + " through a symbolic link");
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "serial = 'file:" + logs.resolve("no/x")
                + "'", "t.cfg"), limits)).hasMessageContaining("folder " + logs.resolve("no") + " does not exist");
        Files.setPosixFilePermissions(logs, PosixFilePermissions.fromString("rwxrwxrwx"));
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "serial = 'file:" + logs.resolve("f.log")
                + "'", "t.cfg"), limits)).hasMessageContaining(logs + " is writable by everyone");
    }

    /** A list item's own line is the one a message names, in a list that spans lines. */
    @Test
    void listItemsAreNamedByTheirOwnLine() {
        assertThatThrownBy(() -> DeviceModelConfig.of(XlConfig.parse(BASE + "disk = [\n  'vdev=hda,target=/a',\n"
                + "  'vdev=hdb,target=/b,target=/c' ]", "t.cfg"))).hasMessageStartingWith("t.cfg:6: disk ");
    }
}
