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
import java.util.HashMap;
import java.util.Map;

/**
 * What a rig guest's ELF file (guests/tiny, guests/fuzz-target) says Xen loaded: its code segment's
 * bytes and guest-physical address, and where its symbols are (the tiny guest's {@code counter} and
 * {@code loop}, the fuzz target's {@code input}, {@code done} and {@code crash}). Read from the ELF32
 * headers and symbol table, so the checks compare xenfork with the file, not with xenfork.
 */
record GuestImage(long textAddress, byte[] text, Map<String, Long> symbols) {
    GuestImage {
        text = text.clone();
        symbols = Map.copyOf(symbols);
    }

    @Override
    public byte[] text() {
        return text.clone();
    }

    /** The address of symbol {@code name}. */
    long symbol(String name) {
        Long a = symbols.get(name);
        if (a == null) {
            throw new IllegalStateException("the guest's ELF image has no symbol '" + name + "'");
        }
        return a;
    }

    /** The tiny guest's counter. */
    long counterAddress() {
        return symbol("counter");
    }

    /** Where the tiny guest's loop starts. */
    long loopAddress() {
        return symbol("loop");
    }

    /** The byte the image has at {@code address} of its code. */
    byte codeByte(long address) {
        if (address < textAddress || address >= textAddress + text.length) {
            throw new IllegalArgumentException("0x" + Long.toHexString(address) + " is outside the guest's code");
        }
        return text[(int) (address - textAddress)];
    }

    private static final int PT_LOAD = 1;
    private static final int PF_X = 1;
    private static final int SHT_SYMTAB = 2;

    /** The image the running guest {@code guest} was loaded from: its config's kernel, as {@code xl list -l} shows it. */
    static GuestImage ofGuest(String guest) throws Exception {
        JsonNode l = new ObjectMapper().readTree(RigChecks.sh("xl", "list", "-l", guest));
        String k = l.get(0).path("config").path("b_info").path("kernel").asText();
        if (k.isEmpty()) {
            throw new IOException("xl list -l " + guest + " names no kernel");
        }
        return of(Path.of(k));
    }

    static GuestImage of(Path elf) throws IOException {
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
        Map<String, Long> symbols = new HashMap<>();
        for (int i = 0; i < shnum; i++) {
            int s = shoff + i * shentsize;
            if (b.getInt(s + 4) != SHT_SYMTAB) {
                continue;
            }
            int strtab = shoff + b.getInt(s + 24) * shentsize; // sh_link: the symbol names' section
            int names = b.getInt(strtab + 16);
            int symtab = b.getInt(s + 16);
            int entsize = b.getInt(s + 36);
            for (int k = 0; k * entsize < b.getInt(s + 20); k++) {
                int sym = symtab + k * entsize;
                String name = cString(b, names + b.getInt(sym));
                if (!name.isEmpty()) {
                    symbols.put(name, b.getInt(sym + 4) & 0xffffffffL);
                }
            }
        }
        if (text == null || symbols.isEmpty()) {
            throw new IOException(elf + " has no executable PT_LOAD segment, or no symbols");
        }
        return new GuestImage(textAddress, text, symbols);
    }

    private static String cString(ByteBuffer b, int at) {
        int end = at;
        while (b.get(end) != 0) {
            end++;
        }
        return new String(b.array(), at, end - at, StandardCharsets.US_ASCII);
    }
}
