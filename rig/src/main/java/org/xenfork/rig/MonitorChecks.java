package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code xenfork monitor} on the memory-sharing hypervisor, judged by witnesses that are not
 * xenfork: libxenctrl's {@code xc_monitor_get_capabilities} ({@code xctest moncaps}), the tiny
 * guest's ELF image (where its loop starts, and the byte that belongs there) and the ticks a fork
 * prints afterwards. A breakpoint goes into a fork of the tiny guest, never into the guest itself.
 * Runs with the tiny guest paused by the caller.
 */
final class MonitorChecks {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final RigChecks c;
    private final String guest;
    private final int g;

    MonitorChecks(RigChecks checks, String guest, int domid) {
        this.c = checks;
        this.guest = guest;
        this.g = domid;
    }

    void run() throws Exception {
        String theirs = RigChecks.sh("xctest", "moncaps", Integer.toString(g)).strip();
        RigChecks.Run caps = c.run("--json", "monitor", guest, "--capabilities");
        JsonNode ours = caps.code() == 0 ? JSON.readTree(caps.out()) : null;
        c.check("monitor --capabilities agrees with libxenctrl's xc_monitor_get_capabilities (" + theirs + "; ours "
                + caps.out().strip() + caps.err().strip() + ")",
                ours != null && theirs.equals("capabilities=" + ours.path("capabilities").asText()));

        TinyImage image = TinyImage.ofGuest(guest);
        long loop = image.loopAddress();
        byte original = image.text()[(int) (loop - image.textAddress())];
        RigChecks.Run f = c.run("fork-vm", "-p", guest);
        int fork = f.code() == 0 ? Integer.parseInt(f.out().strip()) : -1;
        c.check("fork-vm -p for the monitor checks: exit 0 (" + f.err().strip() + ")", fork > 0);
        if (fork <= 0) {
            return;
        }
        String id = Integer.toString(fork);
        try {
            RigChecks.Run m = c.run("--json", "monitor", id, "--breakpoint", MemoryChecks.hex(loop), "--count", "1",
                    "--timeout", "120");
            List<String> lines = m.out().lines().toList();
            JsonNode event = lines.size() == 1 ? JSON.readTree(lines.get(0)) : null;
            c.check("monitor --breakpoint at the fork's loop " + MemoryChecks.hex(loop) + " --count 1: exit 0, one event "
                    + "(" + m.out().strip() + " " + m.err().strip() + ")", m.code() == 0 && event != null);
            c.check("the event is a breakpoint whose rip is the loop's address and gfn its frame",
                    event != null && event.path("reason").asText().equals("breakpoint")
                            && event.path("rip").asText().equals(MemoryChecks.hex(loop))
                            && event.path("gfn").asText().equals(MemoryChecks.hex(loop >>> 12)));
            c.check("the fork, found paused, is left paused (xl list state " + RigChecks.xlState(fork) + ")",
                    RigChecks.xlState(fork).contains("p"));
            c.check("the fork's byte at the loop is the image's again (" + String.format("%02x", original) + "), as its parent's",
                    byteAt(id, loop) == original && byteAt(guest, loop) == original);
            c.check("no monitor record is left for the fork",
                    !Files.exists(Path.of("/run/xenfork/monitor/" + fork)));
            int seen = RigChecks.ticks(fork).size();
            List<String> ticks = c.runUntil(fork, seen + 2);
            c.check("the fork runs on after the monitor (" + (ticks.size() - seen) + " new ticks)", ticks.size() >= seen + 2);
        } finally {
            RigChecks.Run d = c.run("destroy", id);
            c.check("destroy the monitor checks' fork: exit 0", d.code() == 0 && RigChecks.waitGone(fork));
        }
    }

    private byte byteAt(String domain, long address) throws Exception {
        Path out = Files.createTempFile("rig-byte", ".bin");
        try {
            RigChecks.Run r = c.run("mem", "read", domain, MemoryChecks.hex(address), "1", "-o", out.toString());
            if (r.code() != 0) {
                throw new IllegalStateException("mem read of " + domain + " at " + MemoryChecks.hex(address) + " exited "
                        + r.code() + ": " + r.err());
            }
            return Files.readAllBytes(out)[0];
        } finally {
            Files.deleteIfExists(out);
        }
    }
}
