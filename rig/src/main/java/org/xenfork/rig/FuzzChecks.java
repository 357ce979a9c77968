package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * {@code xenfork fuzz} on the memory-sharing hypervisor against the rig's fuzz target
 * (guests/fuzz-target: a CPUID harness, a one-byte planted bug), judged by witnesses that are not
 * xenfork: the target's ELF image (where its input, {@code done} and {@code crash} are, and the
 * bytes that belong there), libxenctrl's reads of the parent's memory ({@code xctest read}), and
 * {@code xl list} and xenstore for what is left. One seed byte, a fixed random seed: the run is
 * the same every time, and finds the bug within its bound of iterations.
 */
final class FuzzChecks {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The target's planted bug: the first input byte 'z'. */
    private static final int PLANTED = 0x7a;
    /** KF/x's harness leaf, which the target executes before it reads its input. */
    private static final String HARNESS = "0x13371337";

    private final RigChecks c;
    private final String target;

    FuzzChecks(RigChecks checks, String target) {
        this.c = checks;
        this.target = target;
    }

    void run() throws Exception {
        int p = Integer.parseInt(RigChecks.sh("xl", "domid", target).strip());
        GuestImage image = GuestImage.ofGuest(target);
        long input = image.symbol("input");
        long done = image.symbol("done");
        long crash = image.symbol("crash");
        List<Integer> before = RigChecks.xlDomids();
        String xenstoreBefore = RigChecks.sh("xenstore-list", "/local/domain").strip();
        Path out = Files.createTempDirectory("rig-fuzz");
        Path seed = out.resolve("seed");
        Files.write(seed, new byte[] {0});
        RigChecks.Run r = c.run("--json", "fuzz", target, "--start-cpuid", HARNESS, "--input", MemoryChecks.hex(input) + ":1",
                "--done", MemoryChecks.hex(done), "--crash", MemoryChecks.hex(crash), "--seed", seed.toString(),
                "--iterations", "2000", "--random-seed", "1", "--timeout-ms", "10000", "--out", out.resolve("found").toString());
        JsonNode summary = r.out().isBlank() ? null : JSON.readTree(r.out());
        c.check("fuzz from one zero byte finds the planted crash: exit 4 and a summary (" + r.out().strip() + "; "
                + tail(r.err()) + ")", r.code() == 4 && summary != null && summary.path("crashes").asLong() >= 1);
        Path crashes = out.resolve("found").resolve("crashes");
        List<Path> files;
        try (Stream<Path> s = Files.exists(crashes) ? Files.list(crashes) : Stream.empty()) {
            files = s.toList();
        }
        c.check("exactly one crash file, the input that crashed: the one byte 0x7a (" + files + ")",
                files.size() == 1 && Files.readAllBytes(files.get(0)).length == 1
                        && (Files.readAllBytes(files.get(0))[0] & 0xff) == PLANTED);
        c.check("the summary counts iterations and their rate (" + (summary == null ? "none" : summary) + ")",
                summary != null && summary.path("iterations").asLong() >= 1
                        && summary.path("iterations_per_second").asDouble() > 0);
        c.check("no fork or sink is left (xl list: " + RigChecks.xlDomids() + ", before: " + before + ")",
                RigChecks.xlDomids().equals(before));
        String xenstoreNow = RigChecks.sh("xenstore-list", "/local/domain").strip();
        c.check("xenstore names the domains it named before (" + xenstoreNow.replace('\n', ' ') + ")",
                xenstoreNow.equals(xenstoreBefore));
        for (long a : new long[] {done, crash}) {
            String theirs = RigChecks.sh("xctest", "read", Integer.toString(p), MemoryChecks.hex(a), "1").strip();
            c.check("the parent's byte at " + MemoryChecks.hex(a) + " is its image's (" + theirs + "): the breakpoints "
                    + "were the sink's", theirs.equals(String.format("%02x", image.codeByte(a) & 0xff)));
        }
        RigChecks.Run again = c.run("monitor", target, "--cpuid", "--timeout", "0");
        c.check("no monitor ring is left on the parent: a new monitor of it starts and ends (exit " + again.code() + ", "
                + tail(again.err()) + ")", again.code() == 0);
    }

    private static String tail(String s) {
        String t = s.strip();
        return t.length() > 600 ? "…" + t.substring(t.length() - 600) : t;
    }
}
