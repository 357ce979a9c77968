package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code xenfork monitor} on the memory-sharing hypervisor, judged by witnesses that are not
 * xenfork: libxenctrl's {@code xc_monitor_get_capabilities} ({@code xctest moncaps}), the tiny
 * guest's ELF image (where its harness CPUID and its loop are, and the byte that belongs there) and
 * the ticks a fork prints afterwards. Events are taken from a fork of the tiny guest. Runs with the
 * tiny guest paused by the caller.
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
            // Breakpoints: QEMU's emulated SVM checks INT3 against the INTn intercept, not #BP's, so on this rig an
            // int3 would reach the guest; the command refuses real Xen for breakpoints and must change nothing.
            RigChecks.Run b = c.run("monitor", id, "--breakpoint", MemoryChecks.hex(loop), "--count", "1", "--timeout", "30");
            c.check("monitor --breakpoint on real Xen is refused with exit 3, saying why (" + b.err().strip() + ")",
                    b.code() == 3 && b.err().contains("breakpoints are not yet verified on a real hypervisor"));
            c.check("the refused monitor changed nothing: the fork's byte at the loop is the image's, it is still paused",
                    byteAt(id, loop) == original && RigChecks.xlState(fork).contains("p"));
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
