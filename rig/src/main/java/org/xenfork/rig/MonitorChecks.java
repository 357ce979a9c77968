package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.privcmd.VmEventHypercalls;
import org.xenfork.vmi.Breakpoints;
import org.xenfork.vmi.GuestMemory;
import org.xenfork.vmi.MappedPhysicalMemory;
import org.xenfork.vmi.Monitor;
import org.xenfork.vmi.VmEventRequest;
import org.xenfork.vmi.VmEventResponse;

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

        GuestImage image = GuestImage.ofGuest(guest);
        long loop = image.loopAddress();
        byte original = image.codeByte(loop);
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
            resetInTheResponse(fork, image, loop, original);
        } finally {
            RigChecks.Run d = c.run("destroy", id);
            c.check("destroy the monitor checks' fork: exit 0", d.code() == 0 && RigChecks.waitGone(fork));
        }
    }

    /**
     * KF/x's round trip, through the library: the fork (paused, the parent's counter in its memory
     * after a write of its own) runs into an ICEBP at the loop, and the answer resets it
     * ({@code VM_EVENT_FLAG_RESET_FORK_STATE | _MEMORY}, Xen 4.17): its own pages are dropped, so the
     * ICEBP and the planted counter are gone and the parent's bytes show through again (libxenctrl
     * reads them), and its vCPU state is the parent's again.
     */
    private void resetInTheResponse(int fork, GuestImage image, long loop, byte original) throws Exception {
        long parents = counter(g, image);
        String planted = MemoryChecks.hex(0x5a5a0000L);
        RigChecks.Run w = c.run("mem", "write", Integer.toString(fork), MemoryChecks.hex(image.counterAddress()), "--hex",
                java.util.HexFormat.of().formatHex(MemoryChecks.le32(0x5a5a0000L)));
        c.check("mem write of " + planted + " into the fork's counter before the reset check: exit 0 (" + w.err().strip()
                + ")", w.code() == 0);
        String events;
        try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
             Hypervisor xen = Hypervisor.open(privcmd, null, null, false);
             VmEventHypercalls vm = VmEventHypercalls.open(xen)) {
            ForeignMemory foreign = new ForeignMemory(privcmd);
            try (Monitor m = Monitor.enable(xen, vm, foreign, fork)) {
                c.check("a 4.17 monitor can reset a fork in its answer", m.canResetFork());
                Breakpoints bps = new Breakpoints(new GuestMemory(new MappedPhysicalMemory(foreign, fork)),
                        Breakpoints.Instruction.ICEBP, Breakpoints.Journal.NONE);
                m.monitor(bps.instruction().event(), true);
                bps.insert(loop);
                xen.unpauseDomain(fork);
                try {
                    Optional<VmEventRequest> hit = m.next(Duration.ofSeconds(120));
                    events = hit.map(r -> r.reasonName() + " at " + MemoryChecks.hex(r.rip())).orElse("none in 120 s");
                    c.check("the fork runs into the ICEBP at the loop (" + events + ")",
                            hit.isPresent() && bps.isHit(hit.get()) && hit.get().rip() == loop);
                    if (hit.isPresent()) {
                        xen.pauseDomain(fork); // so that it cannot run on before the bytes are looked at
                        m.respond(VmEventResponse.resume(hit.get()).withForkReset(true, true));
                    }
                } finally {
                    if (!RigChecks.xlState(fork).contains("p")) {
                        xen.pauseDomain(fork);
                    }
                }
            }
        }
        String byteNow = RigChecks.sh("xctest", "read", Integer.toString(fork), MemoryChecks.hex(loop), "1").strip();
        c.check("after the answer's reset the fork's byte at the loop is the parent's again, by libxenctrl (" + byteNow
                + ")", byteNow.equals(String.format("%02x", original & 0xff)));
        long now = counter(fork, image);
        c.check("after the reset the fork's counter is the parent's (" + MemoryChecks.hex(now) + ", parent "
                + MemoryChecks.hex(parents) + "), not the planted " + planted, now == parents);
    }

    /** The tiny guest's counter in {@code domid}, as libxenctrl reads it ({@code xctest read}, little-endian). */
    private static long counter(int domid, GuestImage image) throws Exception {
        String hex = RigChecks.sh("xctest", "read", Integer.toString(domid), MemoryChecks.hex(image.counterAddress()), "4")
                .strip();
        byte[] b = java.util.HexFormat.of().parseHex(hex);
        return (b[0] & 0xffL) | (b[1] & 0xffL) << 8 | (b[2] & 0xffL) << 16 | (b[3] & 0xffL) << 24;
    }
}
