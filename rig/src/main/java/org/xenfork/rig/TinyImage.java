package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * What the tiny guest's ELF file (guests/tiny) says Xen loaded: its code segment's bytes and
 * guest-physical address, where its {@code counter} lives and where its {@code loop} starts.
 * Read from the ELF32 headers and symbol table, so the checks compare xenfork with the file,
 * not with xenfork.
 */
record TinyImage(long textAddress, byte[] text, long counterAddress, long loopAddress) {
    private static final int PT_LOAD = 1;
    private static final int PF_X = 1;
    private static final int SHT_SYMTAB = 2;

    /** The image the running guest {@code guest} was loaded from: its config's kernel, as {@code xl list -l} shows it. */
    static TinyImage ofGuest(String guest) throws Exception {
        JsonNode l = new ObjectMapper().readTree(RigChecks.sh("xl", "list", "-l", guest));
        String k = l.get(0).path("config").path("b_info").path("kernel").asText();
        if (k.isEmpty()) {
            throw new IOException("xl list -l " + guest + " names no kernel");
        }
        return of(Path.of(k));
    }

    static TinyImage of(Path elf) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(elf)).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt(0) != 0x464c457f || b.get(4) != 1) {
            throw new IOException(elf + " is not an ELF32 file");
        }
        int phoff = b.getInt(28);
        int shoff = b.getInt(32);
        int phentsize = b.getShort(42) & 0xffff;
        int phnum = b.getShort(44) & 0xffff;
        int shentsize = b.getShort(46) & 0xffff;
        int shnum = b.getShort(48) & 0xffff;
        long textAddress = -1;
        byte[] text = null;
        for (int i = 0; i < phnum; i++) {
            int p = phoff + i * phentsize;
            if (b.getInt(p) == PT_LOAD && (b.getInt(p + 24) & PF_X) != 0) {
                int offset = b.getInt(p + 4);
                textAddress = b.getInt(p + 12) & 0xffffffffL; // p_paddr: PVH loads at physical addresses
                text = Arrays.copyOfRange(b.array(), offset, offset + b.getInt(p + 16));
                break;
            }
        }
        long counter = -1;
        long loop = -1;
        for (int i = 0; i < shnum; i++) {
            int s = shoff + i * shentsize;
            if (b.getInt(s + 4) != SHT_SYMTAB) {
                continue;
            }
            int strtab = shoff + b.getInt(s + 24) * shentsize; // sh_link: the symbol names' section
            int names = b.getInt(strtab + 16);
            int symbols = b.getInt(s + 16);
            int entsize = b.getInt(s + 36);
            for (int k = 0; k * entsize < b.getInt(s + 20); k++) {
                int sym = symbols + k * entsize;
                String name = cString(b, names + b.getInt(sym));
                if (name.equals("counter")) {
                    counter = b.getInt(sym + 4) & 0xffffffffL;
                } else if (name.equals("loop")) {
                    loop = b.getInt(sym + 4) & 0xffffffffL;
                }
            }
        }
        if (text == null || counter < 0 || loop < 0) {
            throw new IOException(elf + " has no executable PT_LOAD segment, or no 'counter' or 'loop' symbol");
        }
        return new TinyImage(textAddress, text, counter, loop);
    }

    private static String cString(ByteBuffer b, int at) {
        int end = at;
        while (b.get(end) != 0) {
            end++;
        }
        return new String(b.array(), at, end - at, StandardCharsets.US_ASCII);
    }
}
