package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;

/**
 * {@code xenfork mem} on the real hypervisor, judged by witnesses that are not xenfork: the tiny
 * guest's own ELF image (what Xen loaded), the ticks it prints on port 0xE9 ({@code xl dmesg}),
 * and libxenctrl's {@code xc_map_foreign_range} ({@code xctest read}). Runs with the tiny guest
 * paused by the caller; on the memory-sharing hypervisor it also writes into a fork.
 */
final class MemoryChecks {
    private static final HexFormat HEX = HexFormat.of();
    /** A counter value the tiny guest cannot reach in a tier run (a tick a second at best). */
    private static final long PLANTED = 0x7a5e0000L;

    private final RigChecks c;
    private final String guest;
    private final int g;
    private GuestImage image;

    MemoryChecks(RigChecks checks, String guest, int domid) {
        this.c = checks;
        this.guest = guest;
        this.g = domid;
    }

    void run(boolean memshr) throws Exception {
        image = GuestImage.ofGuest(guest);
        Path tmp = Files.createTempDirectory("rig-mem");
        try {
            Path text = tmp.resolve("text.bin");
            RigChecks.Run r = c.run("mem", "read", guest, hex(image.textAddress()), Integer.toString(image.text().length),
                    "-o", text.toString());
            byte[] ours = r.code() == 0 ? Files.readAllBytes(text) : new byte[0];
            c.check("mem read of the tiny guest's code at " + hex(image.textAddress()) + " (" + image.text().length
                    + " bytes) equals its ELF image (exit " + r.code() + " " + r.err().strip() + ")",
                    java.util.Arrays.equals(ours, image.text()));
            String theirs = RigChecks.sh("xctest", "read", Integer.toString(g), hex(image.textAddress()),
                    Integer.toString(image.text().length)).strip();
            c.check("libxenctrl's xc_map_foreign_range reads the same bytes", theirs.equals(HEX.formatHex(ours)));

            long counter = counter(guest);
            String last = RigChecks.lastTick(g);
            long printed = Long.parseLong(last, 16);
            // The guest increments, then prints: paused between the two, memory is one ahead of the console.
            c.check("the counter read from memory (" + hex(counter) + ") is the last tick printed (" + last + ") or the next",
                    counter == printed || counter == printed + 1);

            RigChecks.Run dump = c.run("mem", "read", guest, hex(image.counterAddress()), "4");
            byte[] b = le32(counter);
            String line = String.format("%016x  %02x %02x %02x %02x", image.counterAddress(), b[0], b[1], b[2], b[3]);
            c.check("mem read without -o prints a hex dump: " + line + " (" + dump.out().strip() + ")",
                    dump.code() == 0 && dump.out().startsWith(line));

            RigChecks.Run virt = c.run("mem", "read", guest, hex(image.textAddress()), "16", "--virtual", "-o",
                    tmp.resolve("virt.bin").toString());
            c.check("mem read --virtual of a guest without paging reads the same bytes (exit " + virt.code() + ")",
                    virt.code() == 0 && java.util.Arrays.equals(Files.readAllBytes(tmp.resolve("virt.bin")),
                            java.util.Arrays.copyOf(image.text(), 16)));
            RigChecks.Run tr = c.run("--json", "mem", "translate", guest, hex(image.counterAddress()));
            JsonNode t = tr.code() == 0 ? new ObjectMapper().readTree(tr.out()) : null;
            c.check("mem translate: no paging, the address is its own guest-physical address (" + tr.out().strip() + ")",
                    t != null && t.path("mode").asText().equals("NONE")
                            && t.path("physical").asText().equals(hex(image.counterAddress())));

            long beyond = RigChecks.maxMemoryBytes(g) + (64L << 20);
            RigChecks.Run off = c.run("mem", "read", guest, hex(beyond), "16");
            c.check("mem read beyond the guest's memory: exit 1 naming the address (" + off.err().strip() + ")",
                    off.code() == 1 && off.err().contains(hex(beyond >>> 12 << 12).substring(2)));

            if (memshr) {
                forkWrite();
            }
        } finally {
            try (var files = Files.list(tmp)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(tmp);
        }
    }

    /** A write into a paused fork: the fork counts on from the planted value, the parent keeps its own. */
    private void forkWrite() throws Exception {
        long parentBefore = counter(guest);
        RigChecks.Run f = c.run("fork-vm", "-p", guest);
        int fork = f.code() == 0 ? Integer.parseInt(f.out().strip()) : -1;
        c.check("fork-vm -p for the memory checks: exit 0 (" + f.err().strip() + ")", fork > 0);
        if (fork <= 0) {
            return;
        }
        try {
            String id = Integer.toString(fork);
            c.check("the fork reads the parent's counter (" + hex(parentBefore) + ")", counter(id) == parentBefore);
            RigChecks.Run w = c.run("mem", "write", id, hex(image.counterAddress()), "--hex", HEX.formatHex(le32(PLANTED)));
            c.check("mem write of " + hex(PLANTED) + " into the fork's counter: exit 0 (" + w.err().strip() + ")", w.code() == 0);
            c.check("the fork reads back " + hex(PLANTED), counter(id) == PLANTED);
            c.check("the parent's counter is unchanged (" + hex(counter(guest)) + ")", counter(guest) == parentBefore);
            String theirs = RigChecks.sh("xctest", "read", Integer.toString(g), hex(image.counterAddress()), "4").strip();
            c.check("libxenctrl reads the parent's old counter too (" + theirs + ")", theirs.equals(HEX.formatHex(le32(parentBefore))));
            List<String> ticks = c.runUntil(fork, 1);
            c.check("the fork's next tick is the planted value plus one (" + ticks.get(0) + ")",
                    ticks.get(0).equals(String.format("%08x", PLANTED + 1)));
        } finally {
            RigChecks.Run d = c.run("destroy", Integer.toString(fork));
            c.check("destroy the memory checks' fork: exit 0", d.code() == 0 && RigChecks.waitGone(fork));
        }
        // The parent counts on from its own value: printed next is the counter (if it was paused between the
        // increment and the print) or the counter plus one.
        int seen = RigChecks.ticks(g).size();
        List<String> after = c.runUntil(g, seen + 1);
        long next = after.size() > seen ? Long.parseLong(after.get(seen), 16) : -1;
        c.check("the parent's next tick (" + Long.toHexString(next) + ") continues its own count (" + hex(parentBefore) + ")",
                next == parentBefore || next == parentBefore + 1);
    }

    /** The tiny guest's counter, as {@code mem read} gives it (4 bytes, little-endian). */
    private long counter(String domain) throws Exception {
        Path out = Files.createTempFile("rig-counter", ".bin");
        try {
            RigChecks.Run r = c.run("mem", "read", domain, hex(image.counterAddress()), "4", "-o",
                    out.toString());
            if (r.code() != 0) {
                throw new IllegalStateException("mem read of " + domain + "'s counter exited " + r.code() + ": " + r.err());
            }
            return ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN).getInt() & 0xffffffffL;
        } finally {
            Files.deleteIfExists(out);
        }
    }

    static byte[] le32(long v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array();
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
