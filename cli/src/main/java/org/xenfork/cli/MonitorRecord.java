package org.xenfork.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.xenfork.abi.Values;
import org.xenfork.fork.OutputFile;
import org.xenfork.vmi.Breakpoints;

/**
 * What a running {@code xenfork monitor} has done to a domain, on disk before it does it: the
 * domain's handle (a reused domain id is not the same domain), whether a ring may be enabled, the
 * breakpoint instruction, and every breakpoint inserted with the byte it replaced. A monitor that dies (an exception, a signal, kill -9)
 * leaves this file; {@code xenfork monitor --cleanup DOMAIN} reads it and undoes what it lists, and a
 * new monitor of the domain refuses to start while it exists.
 *
 * <p>A file, not xenstore: it needs no xenstored (so {@code --backend sim} has it too), it is written
 * whole or not at all ({@link OutputFile}: staged, synced, renamed; mode 0600), and {@code /run} is
 * emptied at boot, when the domains it names are gone too. One file per domain id,
 * {@code /run/xenfork/monitor/DOMID}, lines of text:
 * <pre>
 * xenfork-monitor 1
 * handle 0123456789abcdef0123456789abcdef
 * ring enabled
 * instruction icebp
 * breakpoint 0x100000 0x55
 * </pre>
 * A record without an {@code instruction} line (written before there was a choice) is int3's.
 */
final class MonitorRecord {
    /** Where records live on a real dom0 (tests use their own folder). */
    static final Path DEFAULT_FOLDER = Path.of("/run/xenfork/monitor");
    private static final String MAGIC = "xenfork-monitor 1";
    private static final int MAX_BYTES = 64 << 10;

    final byte[] handle;
    final boolean ring;
    final Breakpoints.Instruction instruction;
    final Map<Long, Byte> breakpoints;

    MonitorRecord(byte[] handle, boolean ring, Breakpoints.Instruction instruction, Map<Long, Byte> breakpoints) {
        this.handle = handle.clone();
        this.ring = ring;
        this.instruction = instruction;
        this.breakpoints = Map.copyOf(new LinkedHashMap<>(breakpoints));
    }

    static Path path(Path folder, int domid) {
        return folder.resolve(Integer.toString(domid));
    }

    /** The record of {@code domid} in {@code folder}, if there is one. */
    static Optional<MonitorRecord> read(Path folder, int domid) {
        Path p = path(folder, domid);
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        String text = new String(InputFiles.read(p, MAX_BYTES, "the monitor record"), StandardCharsets.US_ASCII);
        String[] lines = text.split("\n");
        if (lines.length < 3 || !lines[0].equals(MAGIC) || !lines[1].startsWith("handle ")
                || !lines[2].startsWith("ring ")) {
            throw new RefusedException(p + " is not a xenfork monitor record; look at it, and remove it if it is not "
                    + "needed", null);
        }
        try {
            byte[] handle = HexFormat.of().parseHex(lines[1].substring("handle ".length()));
            boolean ring = lines[2].equals("ring enabled");
            Map<Long, Byte> bps = new LinkedHashMap<>();
            int first = 3;
            Breakpoints.Instruction insn = Breakpoints.Instruction.INT3;
            if (lines.length > 3 && lines[3].startsWith("instruction ")) {
                insn = Breakpoints.Instruction.valueOf(lines[3].substring("instruction ".length()).toUpperCase(Locale.ROOT));
                first = 4;
            }
            for (int i = first; i < lines.length; i++) {
                String[] w = lines[i].split(" ");
                if (w.length != 3 || !w[0].equals("breakpoint") || !w[1].startsWith("0x") || !w[2].startsWith("0x")) {
                    throw new IllegalArgumentException("line " + (i + 1) + ": " + lines[i]);
                }
                bps.put(Long.parseUnsignedLong(w[1].substring(2), 16), (byte) Integer.parseInt(w[2].substring(2), 16));
            }
            return Optional.of(new MonitorRecord(handle, ring, insn, bps));
        } catch (IllegalArgumentException e) {
            throw new RefusedException(p + " is not a readable xenfork monitor record (" + e.getMessage()
                    + "); look at it, and remove it if it is not needed", e);
        }
    }

    /** Writes this record for {@code domid}, whole or not at all, creating the folder (0700) if needed. */
    void write(Path folder, int domid) throws IOException {
        Files.createDirectories(folder, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                java.nio.file.attribute.PosixFilePermissions.fromString("rwx------")));
        StringBuilder sb = new StringBuilder(MAGIC).append('\n');
        sb.append("handle ").append(HexFormat.of().formatHex(handle)).append('\n');
        sb.append("ring ").append(ring ? "enabled" : "off").append('\n');
        sb.append("instruction ").append(instruction.name().toLowerCase(Locale.ROOT)).append('\n');
        breakpoints.forEach((a, b) -> sb.append("breakpoint ").append(Values.hex(a)).append(" 0x")
                .append(String.format("%02x", b & 0xff)).append('\n'));
        OutputFile.at(path(folder, domid)).write(sb.toString().getBytes(StandardCharsets.US_ASCII));
    }

    static void delete(Path folder, int domid) throws IOException {
        try {
            Files.delete(path(folder, domid));
        } catch (NoSuchFileException gone) {
            // nothing to remove
        }
    }
}
