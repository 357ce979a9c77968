package org.xenfork.fork.devicemodel;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.devicemodel.XlConfig.Setting;
import org.xenfork.testfixtures.FuzzBudget;

/**
 * The xl config parser and the device-model config built from it, on random and mutated configs
 * (issue 16): each is either accepted, and then holds to the limits and reads back the same when
 * written out again, or refused with a {@link ForkRequestException} that names the file and the
 * line, on one bounded line. Any other exception, or a case over its CPU or heap budget, fails with
 * the seed, the case number and the config.
 */
class XlConfigFuzzTest {
    private static final FuzzBudget BUDGET = new FuzzBudget(Duration.ofMillis(250), 64L << 20);

    private static final String[] KEYS = {"name", "type", "builder", "memory", "maxmem", "vcpus", "maxvcpus", "disk",
        "serial", "boot", "nographic", "xen_platform_pci", "device_model_version", "device_model_override",
        "device_model_args", "device_model_args_hvm", "vga", "vnc", "sdl", "vif", "uuid", "hap", "tsc_mode", "cpuid",
        "on_crash", "pci", "usb", "memory2", "x_1"};
    private static final String[] VALUES = {"hvm", "pv", "f", "fork-1", "1f", "64", "0", "1", "2", "4096", "99999999999",
        "0x40", "c", "cd", "x", "qemu-xen", "qemu-xen-traditional", "none", "stdvga", "stdio", "pty", "MON:stdio",
        "mon:stdio", "null", "file:/etc/passwd", "file:/var/log/xen/../../etc/shadow", "/dev/ttyS0",
        "tcp:0.0.0.0:4445,server=on,wait=off", "unix:/tmp/s,server=on", "-S", "-rtc", "base=utc", "base=utc,file=/x",
        "-qmp", "-serial", "-monitor", "-chardev", "socket,id=x,path=/tmp/q", "-incoming", "--qmp", "/bin/sh", "qemu",
        "/usr/libexec/xen-qemu-system-i386", "format=raw,vdev=hda,access=rw,target=/img/x",
        "vdev=hda,target=/img/x,target=/etc/shadow", "/a.img,raw,hdb,rw", "vdev=hdc,devtype=cdrom,target=/x",
        "format=qcow2,vdev=hdd,target=/d.qcow2", "vdev=hda,script=x,target=/a", "bridge=xenbr0", "", " ", "\u00fc",
        "a\"b", "a'b", "a\\b", "a\nb", "\u0665", "a,b", "x".repeat(300)};
    private static final String NOISE = "[]=,;#'\"\\\n \t\r\0\u00fc\u0665xa1-_.:/";

    @TempDir
    Path dir;

    @Test
    @Timeout(value = 10, unit = TimeUnit.MINUTES)
    void configsAreAcceptedWithinTheLimitsOrRefusedByLine() throws Exception {
        Path logs = Files.createDirectory(dir.resolve("log"));
        Path qemu = dir.resolve("qemu-system-i386");
        Files.writeString(qemu, "#!/bin/sh\n");
        Files.setPosixFilePermissions(qemu, PosixFilePermissions.fromString("rwx------"));
        DeviceModelConfig.Limits limits = new DeviceModelConfig.Limits(logs, false);
        String[] hostValues = {"file:" + logs.resolve("s.log"), "file:" + logs + "/", "file:" + logs.resolve("a,b"),
            qemu.toString(), "file:" + logs.resolve("../x")};
        long seed = FuzzBudget.seed(0x16_2a_c0f9L);
        Random random = new Random(seed);
        int accepted = 0;
        int cases = FuzzBudget.cases(3_000);
        for (int n = 0; n < cases; n++) {
            String text = mutate(random, config(random, hostValues));
            boolean asBytes = n % 4 == 0;
            byte[] bytes = asBytes ? bytes(random, text) : null;
            int number = n;
            boolean[] ok = new boolean[1];
            BUDGET.run(() -> "seed " + seed + " case " + number + ": " + (asBytes ? java.util.HexFormat.of().formatHex(bytes)
                    : "config " + quoted(text)), () -> {
                        try {
                            XlConfig cfg = asBytes ? read(bytes) : XlConfig.parse(text, "f.cfg");
                            readsBackTheSame(cfg);
                            DeviceModelConfig dm = DeviceModelConfig.of(cfg, limits);
                            holdsToTheLimits(dm, logs, qemu);
                            ok[0] = true;
                        } catch (ForkRequestException e) {
                            namesTheLine(e.getMessage(), asBytes ? dir.resolve("f.cfg").toString() : "f.cfg",
                                    asBytes ? new String(bytes, StandardCharsets.UTF_8) : text);
                        } catch (RuntimeException | AssertionError e) {
                            throw new AssertionError("seed " + seed + " case " + number + ": " + e + " for "
                                    + (asBytes ? java.util.HexFormat.of().formatHex(bytes) : quoted(text)), e);
                        }
                    });
            accepted += ok[0] ? 1 : 0;
        }
        // the generator must reach the accepting paths too, or the properties above were never checked
        assertThat(accepted).as("accepted configs of " + cases).isGreaterThan(cases / 50);
    }

    /** A config of a few settings, mostly plausible: the keys xenfork reads, values it honours or refuses. */
    private static String config(Random r, String[] hostValues) {
        StringBuilder b = new StringBuilder();
        if (r.nextInt(3) > 0) {
            b.append("type = \"hvm\"\nname = 'f'\nmemory = 64\n");
        }
        int settings = r.nextInt(6);
        for (int i = 0; i < settings; i++) {
            if (r.nextInt(8) == 0) {
                b.append("# a comment = [ '\n");
            }
            b.append(KEYS[r.nextInt(KEYS.length)]).append(r.nextBoolean() ? " = " : "=");
            if (r.nextInt(3) == 0) {
                b.append('[');
                int items = r.nextInt(4);
                for (int k = 0; k < items; k++) {
                    b.append(r.nextBoolean() ? " " : "\n  ").append(atom(r, hostValues)).append(k + 1 < items || r.nextBoolean()
                            ? "," : "");
                }
                b.append(r.nextBoolean() ? " ]" : "\n]");
            } else {
                b.append(atom(r, hostValues));
            }
            b.append(r.nextInt(5) == 0 ? ";" : "\n");
        }
        return b.toString();
    }

    private static String atom(Random r, String[] hostValues) {
        String v = r.nextInt(4) == 0 ? hostValues[r.nextInt(hostValues.length)] : VALUES[r.nextInt(VALUES.length)];
        if (v.matches("[0-9][0-9a-fx]*") && r.nextBoolean()) {
            return v;
        }
        char q = r.nextBoolean() ? '"' : '\'';
        StringBuilder b = new StringBuilder().append(q);
        for (char c : v.toCharArray()) {
            if (c == q || c == '\\') {
                b.append('\\').append(c);
            } else if (c == '\n') {
                b.append("\\n");
            } else {
                b.append(c);
            }
        }
        return b.append(q).toString();
    }

    /** Up to three edits: a character inserted, a range deleted, the text cut short (issue 16 item 2's shape). */
    private static String mutate(Random r, String text) {
        StringBuilder b = new StringBuilder(text);
        int edits = r.nextInt(4);
        for (int i = 0; i < edits && b.length() > 0; i++) {
            int at = r.nextInt(b.length());
            switch (r.nextInt(3)) {
                case 0 -> b.insert(at, NOISE.charAt(r.nextInt(NOISE.length())));
                case 1 -> b.delete(at, Math.min(b.length(), at + 1 + r.nextInt(8)));
                default -> b.setLength(at);
            }
        }
        return b.toString();
    }

    /** The text as UTF-8, now and then with a byte that is not UTF-8 in it. */
    private static byte[] bytes(Random r, String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        if (b.length > 0 && r.nextBoolean()) {
            b[r.nextInt(b.length)] = (byte) (0x80 + r.nextInt(0x80));
        }
        return b;
    }

    private XlConfig read(byte[] bytes) throws IOException {
        Path f = dir.resolve("f.cfg");
        Files.write(f, bytes);
        return XlConfig.read(f);
    }

    /** Written out as xl syntax again, the settings read back the same. */
    private static void readsBackTheSame(XlConfig cfg) {
        StringBuilder b = new StringBuilder();
        for (Setting s : cfg.settings().values()) {
            b.append(s.key()).append(" = ");
            if (s.isList()) {
                b.append('[');
                s.list().forEach(v -> b.append(written(v)).append(", "));
                b.append("]\n");
            } else {
                b.append(written(s.atom().orElseThrow())).append('\n');
            }
        }
        Map<String, Setting> again = XlConfig.parse(b.toString(), "again").settings();
        assertThat(again.keySet()).containsExactlyElementsOf(cfg.settings().keySet());
        cfg.settings().forEach((k, s) -> {
            assertThat(again.get(k).atom()).isEqualTo(s.atom());
            assertThat(again.get(k).list()).isEqualTo(s.list());
            assertThat(s.itemLines()).hasSize(s.isList() ? s.list().size() : 0);
        });
    }

    private static String written(String v) {
        return "\"" + v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\r", "\\r") + "\"";
    }

    /** What an accepted config can make QEMU do stays within the limits. */
    private static void holdsToTheLimits(DeviceModelConfig dm, Path logs, Path qemu) {
        assertThat(dm.binary()).isIn(DeviceModelConfig.DEFAULT_BINARY, qemu);
        for (String s : dm.serials()) {
            assertThat(s.equals("pty") || (s.startsWith("file:" + logs + "/") && !s.contains(",") && !s.contains("/../")))
                    .as("serial %s", s).isTrue();
        }
        List<String> extra = dm.extraArgs();
        for (int i = 0; i < extra.size(); i++) {
            if (extra.get(i).equals("-rtc")) {
                i++;
            } else {
                assertThat(extra.get(i)).isEqualTo("-S");
            }
        }
        List<String> argv = DeviceModelArgs.build(dm, 5, Path.of("/run/xen"));
        assertThat(Collections.frequency(argv, "-incoming")).isEqualTo(1);
        assertThat(Collections.frequency(argv, "-chardev")).isEqualTo(2);
        assertThat(argv).doesNotContain("-qmp", "-monitor", "--qmp").allSatisfy(a -> assertThat(a).doesNotContain("\0"));
    }

    /** A refusal names the file and a line of it (or none, for a key that is missing), on one bounded line. */
    private static void namesTheLine(String message, String source, String text) {
        Matcher m = Pattern.compile(Pattern.quote(source) + "(?::(\\d+))?: .+").matcher(message);
        assertThat(m.matches()).as("refusal names %s and a line: %s", source, message).isTrue();
        if (m.group(1) != null) {
            assertThat(Integer.parseInt(m.group(1))).isBetween(1, (int) text.chars().filter(c -> c == '\n').count() + 1);
        }
        assertThat(message).doesNotContain("\n").hasSizeLessThan(1_000);
    }

    /** The config as a Java string literal, to paste into a regression test. */
    private static String quoted(String text) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c >= 0x20 && c < 0x7f) {
                b.append(c);
            } else {
                b.append(String.format("\\u%04x", (int) c));
            }
        }
        return b.append('"').toString();
    }
}
