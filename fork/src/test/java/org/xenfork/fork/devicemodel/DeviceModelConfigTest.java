package org.xenfork.fork.devicemodel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

    /** libxl's own command line for the rig's HVM guest is the oracle: ours equals it, plus -incoming. */
    @Test
    void argumentsAreLibxlsForTheRigGuest() throws IOException {
        DeviceModelConfig cfg = DeviceModelConfig.of(XlConfig.parse(resource("rig-hvm-guest.cfg"), "hp.cfg"));
        List<String> libxl = resource("libxl-dm-cmdline-hp-domid1.txt").lines().toList();

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
        "s = 'a\\q'                        | unknown escape \\q",
    })
    void syntaxErrorsNameTheLine(String text, String message) {
        assertThatThrownBy(() -> XlConfig.parse(text.replace("\\n", "\n"), "t.cfg"))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining(message);
    }

    private static final String BASE = "name = 'f'\ntype = 'hvm'\nmemory = 64\n";

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "pci = [ '01:00.0' ]                  | t.cfg:4: pci: xenfork cannot honour this key",
        "vif = [ 'bridge=xenbr0' ]            | t.cfg:4: vif: network devices are not launched",
        "vga = 'stdvga'                       | vga = stdvga: a fork's device model has no display",
        "vnc = 1                              | set vnc = 0",
        "device_model_version = 'qemu-xen-traditional' | only qemu-xen",
        "disk = [ 'vdev=xvda,target=/a.img' ] | vdev \"xvda\": use hda to hdd",
        "disk = [ 'vdev=hda,access=ro,target=/a.img' ] | no read-only IDE disks",
        "disk = [ 'vdev=hda,format=vhd,target=/a.img' ] | format \"vhd\": use raw or qcow2",
        "disk = [ 'vdev=hda,target=a.img' ]   | target must be an absolute path",
        "disk = [ 'vdev=hda,script=x,target=/a' ] | script is not honoured",
        "disk = [ '/a.img,hda,w' ]            | four positional fields",
        "disk = [ 'vdev=hda,devtype=cdrom,target=/a' ] | only hard disks",
        "vcpus = 0                            | vcpus = 0 is out of range",
        "maxvcpus = 0                         | maxvcpus = 0 is out of range (1 to",
        "boot = 'x'                           | boot = \"x\": use drive letters",
        "serial = 'stdio'                     | standard input",
        "memory2 = 1                          | memory2: xenfork cannot honour",
        "device_model_override = 'qemu'       | must be an absolute path",
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

    @Test
    void smpPositionalDisksPlatformAndExtraArgs() {
        DeviceModelConfig c = DeviceModelConfig.of(XlConfig.parse(BASE + """
                vcpus = 2
                maxvcpus = 4
                maxmem = 128
                disk = [ '/a.img,raw,hda,rw', 'format=qcow2,vdev=hdc,target=/c.qcow2' ]
                xen_platform_pci = 0
                device_model_args = [ '-rtc', 'base=utc' ]
                device_model_args_hvm = '-S'
                device_model_override = '/opt/qemu/bin/qemu'
                """, "t.cfg"));
        List<String> a = DeviceModelArgs.build(c, 9, Path.of("/run/xen"));
        assertThat(a.get(0)).isEqualTo("/opt/qemu/bin/qemu");
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
}
