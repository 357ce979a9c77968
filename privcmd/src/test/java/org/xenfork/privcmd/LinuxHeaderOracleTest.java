package org.xenfork.privcmd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every number of {@link Linux} and {@link Errno} is the C headers' own: a probe compiled with
 * gcc against glibc's fcntl.h, sys/mman.h, poll.h, errno.h and sys/ioctl.h and the Linux driver
 * headers Debian's libxen-dev ships (xen/sys/privcmd.h, xen/sys/evtchn.h) prints each macro named
 * like the field. Without gcc or the headers it is skipped loudly, or fails when
 * {@code -Dxenfork.requireOracle=true} (CI), like abi's CHeaderOracleTest.
 */
class LinuxHeaderOracleTest {
    /** Fields that are no C macro: the page size is sysconf's, MAP_FAILED a pointer. */
    private static final Set<String> NOT_MACROS = Set.of("PAGE_SIZE", "MAP_FAILED");
    private static final Path XEN_SYS = Path.of("/usr/include/xen/sys");
    private static final String INSTALL_HINT = "apt-get install gcc libxen-dev";
    private static final long TIMEOUT_SECONDS = 60;

    @Test
    void everyNumberIsTheHeadersOwn(@TempDir Path work) throws IOException, InterruptedException, IllegalAccessException {
        Path gcc = onPath("gcc");
        if (gcc == null) {
            skipOrFail("gcc is not on PATH");
        }
        for (String h : List.of("privcmd.h", "evtchn.h")) {
            if (!Files.isRegularFile(XEN_SYS.resolve(h))) {
                skipOrFail(XEN_SYS.resolve(h) + " is missing (package libxen-dev)");
            }
        }
        Map<String, Integer> ours = new LinkedHashMap<>();
        for (Class<?> c : List.of(Linux.class, Errno.class)) {
            for (Field f : c.getFields()) {
                if (Modifier.isStatic(f.getModifiers()) && f.getType() == int.class && !NOT_MACROS.contains(f.getName())) {
                    ours.put(f.getName(), f.getInt(null));
                }
            }
        }
        StringBuilder src = new StringBuilder("""
                #include <stdint.h>
                #include <stdio.h>
                #include <errno.h>
                #include <fcntl.h>
                #include <poll.h>
                #include <sys/ioctl.h>
                #include <sys/mman.h>
                #include <xen/xen.h>
                #include <xen/sys/privcmd.h>
                #include <xen/sys/evtchn.h>

                int main(void)
                {
                """);
        for (String name : ours.keySet()) {
            src.append("    printf(\"%s %lld\\n\", \"").append(name).append("\", (long long)(").append(name).append("));\n");
        }
        src.append("    return 0;\n}\n");
        Path source = work.resolve("linux-probe.c");
        Path binary = work.resolve("linux-probe");
        Files.writeString(source, src, StandardCharsets.UTF_8);
        run(List.of(gcc.toString(), "-std=gnu11", "-Wall", "-Werror", "-o", binary.toString(), source.toString()));
        Map<String, Long> measured = new LinkedHashMap<>();
        for (String line : run(List.of(binary.toString())).split("\n")) {
            String[] kv = line.split(" ");
            measured.put(kv[0], Long.parseLong(kv[1]));
        }
        SoftAssertions soft = new SoftAssertions();
        ours.forEach((name, value) -> {
            Long c = measured.get(name);
            soft.assertThat(c).as("the probe's value of %s", name).isNotNull();
            // ioctl numbers are unsigned 32-bit in C; the Java int holds the same bits
            soft.assertThat(c != null && c >= Integer.MIN_VALUE && c <= 0xffff_ffffL && c.intValue() == value)
                    .as("%s: Java 0x%x, C header %s", name, value, c == null ? "-" : "0x" + Long.toHexString(c)).isTrue();
        });
        soft.assertAll();
        assertThat(ours).containsKeys("IOCTL_PRIVCMD_HYPERCALL", "IOCTL_EVTCHN_BIND_INTERDOMAIN", "O_CLOEXEC", "POLLIN",
                "EFBIG");
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail(String.join(" ", command) + " did not finish within " + TIMEOUT_SECONDS + " s");
        }
        assertThat(p.exitValue()).as("%s failed:%n%s", String.join(" ", command), out).isZero();
        return out;
    }

    private static Path onPath(String program) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, program);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    /** A missing compiler or header: a skip nobody can overlook, or a failure where the oracle must run. */
    private static void skipOrFail(String missing) {
        if (Boolean.getBoolean("xenfork.requireOracle")) {
            fail("C header oracle required (-Dxenfork.requireOracle=true) but " + missing + "; install with: " + INSTALL_HINT);
        }
        String message = "Linux header oracle SKIPPED: " + missing + "; install with: " + INSTALL_HINT;
        System.err.println("*".repeat(message.length()));
        System.err.println(message);
        System.err.println("*".repeat(message.length()));
        Assumptions.abort(message);
    }
}
