package org.xenfork.cli;

import java.io.PrintWriter;
import java.util.HexFormat;

/**
 * Bytes as {@code mem read} prints them: 16 a line, each line led by the guest address of its
 * first byte, then the bytes in hex and as ASCII (a dot for anything unprintable), as
 * {@code hexdump -C} shows a file.
 */
final class HexDump {
    static final int PER_LINE = 16;
    private static final HexFormat HEX = HexFormat.of();

    private HexDump() {
    }

    static void print(long address, byte[] bytes, PrintWriter out) {
        StringBuilder line = new StringBuilder(80);
        for (int i = 0; i < bytes.length; i += PER_LINE) {
            int n = Math.min(PER_LINE, bytes.length - i);
            line.setLength(0);
            line.append(HEX.toHexDigits(address + i)).append(' ');
            for (int k = 0; k < PER_LINE; k++) {
                line.append(k == 8 ? "  " : " ");
                line.append(k < n ? HEX.toHexDigits(bytes[i + k]) : "  ");
            }
            line.append("  |");
            for (int k = 0; k < n; k++) {
                int c = bytes[i + k] & 0xff;
                line.append(c >= 0x20 && c < 0x7f ? (char) c : '.');
            }
            out.println(line.append('|'));
        }
    }
}
