package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code xenfork monitor} on the memory-sharing hypervisor, judged by witnesses that are not
 * xenfork: libxenctrl's {@code xc_monitor_get_capabilities} ({@code xctest moncaps}) and
 * {@code xc_map_foreign_range} ({@code xctest read}), and the tiny guest's ELF image (where its
 * loop is, and the byte that belongs there). The breakpoint is an ICEBP, the command's default:
 * this rig's emulated SVM gives an int3 to the guest instead of Xen (see the rig README), so int3
 * is not checked here. Events are taken from a fork of the tiny guest. Runs with the tiny guest
 * paused by the caller.
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
            long before = counter(fork, image);
            RigChecks.Run b = c.run("--json", "monitor", id, "--breakpoint", MemoryChecks.hex(loop), "--count", "1",
                    "--timeout", "120");
            List<String> lines = b.out().lines().toList();
            JsonNode ev = b.code() == 0 && lines.size() == 1 ? JSON.readTree(lines.get(0)) : null;
            c.check("monitor --breakpoint at the loop of the fork: exit 0 and one event (" + b.out().strip() + "; "
                    + b.err().strip() + ")", ev != null);
            c.check("the event is the breakpoint at the loop's address in the ELF image ("
                    + MemoryChecks.hex(loop) + ", gfn " + MemoryChecks.hex(loop >> 12) + ")",
                    ev != null && ev.path("reason").asText().equals("breakpoint")
                            && ev.path("rip").asText().equals(MemoryChecks.hex(loop))
                            && ev.path("gfn").asText().equals(MemoryChecks.hex(loop >> 12)));
            String forks = RigChecks.sh("xctest", "read", id, MemoryChecks.hex(loop), "1").strip();
            c.check("libxenctrl reads the image's byte back at the fork's loop (" + forks + ")",
                    forks.equals(String.format("%02x", original & 0xff)));
            String parents = RigChecks.sh("xctest", "read", Integer.toString(g), MemoryChecks.hex(loop), "1").strip();
            c.check("the parent's byte at the loop never changed (" + parents + ")",
                    parents.equals(String.format("%02x", original & 0xff)));
            long after = counter(fork, image);
            // Up by one (the loop's own increment) unless dom0 was slow to pause it again: a tick is 0.2 s or more.
            c.check("the fork ran on past the breakpoint: its counter went up from " + MemoryChecks.hex(before) + " to "
                    + MemoryChecks.hex(after), after > before);
            c.check("the fork is paused again, as the monitor found it", RigChecks.xlState(fork).contains("p"));
            c.check("no monitor record is left for the fork",
                    !Files.exists(Path.of("/run/xenfork/monitor", id), java.nio.file.LinkOption.NOFOLLOW_LINKS));
            RigChecks.Run again = c.run("monitor", id, "--cpuid", "--timeout", "0");
            c.check("the ring was disabled: a new monitor of the fork starts and ends (exit " + again.code() + ", "
                    + again.err().strip() + ")", again.code() == 0);
        } finally {
            RigChecks.Run d = c.run("destroy", id);
            c.check("destroy the monitor checks' fork: exit 0", d.code() == 0 && RigChecks.waitGone(fork));
        }
    }

    /** The tiny guest's counter in {@code domid}, as libxenctrl reads it ({@code xctest read}, little-endian). */
    private static long counter(int domid, TinyImage image) throws Exception {
        String hex = RigChecks.sh("xctest", "read", Integer.toString(domid), MemoryChecks.hex(image.counterAddress()), "4")
                .strip();
        byte[] b = java.util.HexFormat.of().parseHex(hex);
        return (b[0] & 0xffL) | (b[1] & 0xffL) << 8 | (b[2] & 0xffL) << 16 | (b[3] & 0xffL) << 24;
    }
}
