package org.xenfork.hvmcontext;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads what Xen's {@code xen-hvmctx} (tools/misc/xen-hvmctx.c, as Debian's Xen
 * 4.17 builds it) prints for an HVM context: its entries, and for each the
 * values it shows, keyed by the path of the field in Xen's struct that holds
 * them. A value inside a byte array is keyed {@code array@offset/length} (a
 * little-endian number of that many bytes at that offset), because xen-hvmctx
 * reads the FPU image and the APIC page through its own views of them.
 *
 * <p>The printing is xen-hvmctx's: {@code %#x} prints 0 without a prefix, {@code %u}
 * is decimal, and a few numbers are printed in hex without {@code 0x} (the
 * changeset, zero-padded registers); {@link #number} reads them all.
 */
final class XenHvmctxText {

    /** One {@code Entry N: type T instance I, length L} and the values printed under it. */
    record Entry(int index, int type, int instance, int length, Map<String, Long> values) {
    }

    /**
     * FXSAVE image offsets (Intel SDM vol. 1, table 10-2, 64-bit format) of what
     * xen-hvmctx prints from {@code fpu_regs}: name, offset, bytes.
     */
    private static final Object[][] FXSAVE = {
        {"fcw", 0, 2}, {"fsw", 2, 2}, {"ftw", 4, 1}, {"fop", 6, 2}, {"fpuip", 8, 8}, {"fpudp", 16, 8},
        {"mxcsr", 24, 4}, {"mask", 28, 4},
    };
    private static final int FXSAVE_MM = 32;
    private static final int FXSAVE_XMM = 160;
    /** xen-hvmctx's {@code res1[12]}: the 96 bytes after xmm0-15, printed as six 128-bit values. */
    private static final int FXSAVE_RES1 = 416;

    private static final Pattern ENTRY = Pattern.compile("Entry (\\d+): type (\\d+) instance (\\d+), length (\\d+)");
    private static final String N = "((?:0x)?[0-9a-f]+)";
    private static final Pattern PAIR = Pattern.compile("\\b([a-z][a-z0-9_]*) +" + N + "\\b");
    private static final Pattern SEGMENT = Pattern.compile("^\\s*(cs|es|ds|fs|gs|ss|tr|ldtr) +" + N + " \\(\\s*" + N
            + " \\+\\s*" + N + " /\\s*" + N + "\\)");
    private static final Pattern TABLE = Pattern.compile("^\\s*(idtr|gdtr) +\\(\\s*" + N + " \\+\\s*" + N + "\\)");

    private XenHvmctxText() {
    }

    static List<Entry> parse(String text) {
        List<Entry> out = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        Matcher current = null;
        for (String line : (text + "\nEntry 999999: type 0 instance 0, length 0").split("\n")) {
            Matcher m = ENTRY.matcher(line);
            if (m.find()) {
                if (current != null) {
                    int type = Integer.parseInt(current.group(2));
                    out.add(new Entry(Integer.parseInt(current.group(1)), type, Integer.parseInt(current.group(3)),
                            Integer.parseInt(current.group(4)), values(type, lines)));
                }
                current = m;
                lines = new ArrayList<>();
            } else if (current != null) {
                lines.add(line);
            }
        }
        return out;
    }

    private static Map<String, Long> values(int type, List<String> lines) {
        Map<String, Long> v = new LinkedHashMap<>();
        switch (type) {
            case 1 -> header(lines, v);
            case 2 -> cpu(lines, v);
            case 3 -> pairs(lines, v, Map.of("base", "irq_base"));
            case 4 -> ioapic(lines, v);
            case 5 -> pairs(lines, v, Map.of("base_msr", "apic_base_msr"));
            case 6 -> lapicRegs(lines, v);
            case 7 -> irqs(lines, v, "PCI IRQs: 0x([0-9a-f]{16})([0-9a-f]{16})");
            case 8 -> irqs(lines, v, "ISA IRQs: (0x[0-9a-f]+)");
            case 9 -> link(lines, v);
            case 10 -> pit(lines, v);
            case 11 -> rtc(lines, v);
            case 12 -> hpet(lines, v);
            case 13 -> pairs(lines, v, Map.of("TMR_VAL", "tmr_val", "PM1a_STS", "pm1a_sts", "PM1a_EN", "pm1a_en"));
            case 14 -> mtrr(lines, v);
            case 18 -> vmce(lines, v);
            case 19 -> pairs(lines, v, Map.of());
            default -> {
                // END and types xen-hvmctx does not decode: nothing to compare
            }
        }
        return v;
    }

    private static void header(List<String> lines, Map<String, Long> v) {
        for (String l : lines) {
            find(l, "magic " + N + ", version " + N, m -> {
                v.put("magic", number(m.group(1)));
                v.put("version", number(m.group(2)));
            });
            find(l, "Xen changeset ([0-9a-f]+)", m -> v.put("changeset", Long.parseUnsignedLong(m.group(1), 16)));
            find(l, "CPUID\\[0\\]\\[%eax\\] " + N, m -> v.put("cpuid", number(m.group(1))));
            find(l, "gtsc_khz (\\d+)", m -> v.put("gtsc_khz", Long.parseLong(m.group(1))));
        }
    }

    private static void cpu(List<String> lines, Map<String, Long> v) {
        Map<String, String> names = Map.of("efer", "msr_efer", "lstar", "msr_lstar", "cstar", "msr_cstar", "star", "msr_star",
                "sfmask", "msr_syscall_mask", "event", "pending_event", "error", "error_code", "eip", "sysenter_eip",
                "esp", "sysenter_esp");
        int xmm = 0;
        int res = 0;
        for (String l : lines) {
            Matcher seg = SEGMENT.matcher(l);
            Matcher table = TABLE.matcher(l);
            if (seg.find()) {
                String s = seg.group(1);
                v.put(s + "_sel", number(seg.group(2)));
                v.put(s + "_base", number(seg.group(3)));
                v.put(s + "_limit", number(seg.group(4)));
                v.put(s + "_arbytes", number(seg.group(5)));
            } else if (table.find()) {
                v.put(table.group(1) + "_base", number(table.group(2)));
                v.put(table.group(1) + "_limit", number(table.group(3)));
            } else if (l.contains("sysenter cs")) {
                find(l, "sysenter cs " + N, m -> v.put("sysenter_cs", number(m.group(1))));
                pairsOf(l.replaceFirst("sysenter cs \\S+", ""), v, names);
            } else if (l.contains("shadow gs")) {
                find(l, "shadow gs +" + N, m -> v.put("shadow_gs", number(m.group(1))));
                pairsOf(l.replaceFirst("shadow gs +\\S+", ""), v, names);
            } else if (l.matches("\\s+xmm\\d\\d 0x[0-9a-f]{32}")) {
                String hex = l.strip().split(" ")[1].substring(2);
                v.put("fpu_regs@" + (FXSAVE_XMM + 16 * xmm) + "/8", Long.parseUnsignedLong(hex.substring(16), 16));
                v.put("fpu_regs@" + (FXSAVE_XMM + 16 * xmm + 8) + "/8", Long.parseUnsignedLong(hex.substring(0, 16), 16));
                xmm++;
            } else if (l.matches("\\s+mm\\d 0x[0-9a-f]{20} \\(0x[0-9a-f]{12}\\)")) {
                int i = l.strip().charAt(2) - '0';
                String hex = l.strip().split(" ")[1].substring(2);
                v.put("fpu_regs@" + (FXSAVE_MM + 16 * i) + "/8", Long.parseUnsignedLong(hex.substring(4), 16));
                v.put("fpu_regs@" + (FXSAVE_MM + 16 * i + 8) + "/2", Long.parseUnsignedLong(hex.substring(0, 4), 16));
            } else if (l.matches("\\s+\\(0x[0-9a-f]{32}\\)")) {
                String hex = l.strip().substring(3, 35);
                v.put("fpu_regs@" + (FXSAVE_RES1 + 16 * res) + "/8", Long.parseUnsignedLong(hex.substring(16), 16));
                v.put("fpu_regs@" + (FXSAVE_RES1 + 16 * res + 8) + "/8", Long.parseUnsignedLong(hex.substring(0, 16), 16));
                res++;
            } else if (l.contains("FPU:") || l.contains("ftw") || l.contains("fpuip") || l.contains("mxcsr")) {
                Matcher m = PAIR.matcher(l);
                while (m.find()) {
                    for (Object[] f : FXSAVE) {
                        if (f[0].equals(m.group(1))) {
                            v.put("fpu_regs@" + f[1] + "/" + f[2], number(m.group(2)));
                        }
                    }
                }
            } else {
                pairsOf(l, v, names);
            }
        }
    }

    private static void ioapic(List<String> lines, Map<String, Long> v) {
        for (String l : lines) {
            find(l, "base_address " + N + ", ioregsel " + N + " id " + N, m -> {
                v.put("base_address", number(m.group(1)));
                v.put("ioregsel", number(m.group(2)));
                v.put("id", number(m.group(3)));
            });
            find(l, "pin (\\d\\d): " + N, m -> v.put("redirtbl[" + Integer.parseInt(m.group(1)) + "].bits", number(m.group(2))));
        }
    }

    private static void lapicRegs(List<String> lines, Map<String, Long> v) {
        Pattern reg = Pattern.compile("0x([0-9a-f]{3}): 0x([0-9a-f]{8})");
        for (String l : lines) {
            Matcher m = reg.matcher(l);
            while (m.find()) {
                v.put("data@" + Integer.parseInt(m.group(1), 16) + "/4", Long.parseLong(m.group(2), 16));
            }
        }
    }

    /** xen-hvmctx prints the bitmaps through the {@code pad} view of their unions. */
    private static void irqs(List<String> lines, Map<String, Long> v, String regex) {
        for (String l : lines) {
            find(l, regex, m -> {
                for (int i = 1; i <= m.groupCount(); i++) {
                    v.put("pad[" + (i - 1) + "]", number(m.groupCount() == 1 ? m.group(i) : "0x" + m.group(i)));
                }
            });
        }
    }

    private static void link(List<String> lines, Map<String, Long> v) {
        for (String l : lines) {
            find(l, "PCI LINK: (\\d+) (\\d+) (\\d+) (\\d+)", m -> {
                for (int i = 0; i < 4; i++) {
                    v.put("route[" + i + "]", Long.parseLong(m.group(i + 1)));
                }
            });
        }
    }

    private static void pit(List<String> lines, Map<String, Long> v) {
        Map<String, String> names = Map.of("rd_state", "read_state", "wr_state", "write_state", "wr_latch", "write_latch");
        int channel = -1;
        for (String l : lines) {
            if (l.contains("speaker")) {
                v.put("speaker_data_on", l.contains("speaker on") ? 1L : 0L); // printed as on/off: 1 stands for "non-zero"
                continue;
            }
            Matcher ch = Pattern.compile("ch (\\d):").matcher(l);
            if (ch.find()) {
                channel = Integer.parseInt(ch.group(1));
            }
            Matcher m = PAIR.matcher(l.replaceFirst("ch \\d:", ""));
            while (m.find()) {
                v.put("channels[" + channel + "]." + names.getOrDefault(m.group(1), m.group(1)), number(m.group(2)));
            }
        }
    }

    private static void rtc(List<String> lines, Map<String, Long> v) {
        List<Long> bytes = new ArrayList<>();
        for (String l : lines) {
            Matcher m = Pattern.compile("(?<!index )(0x[0-9a-f]{2})\\b").matcher(l);
            while (m.find()) {
                bytes.add(number(m.group(1)));
            }
            find(l, "index " + N, x -> v.put("cmos_index", number(x.group(1))));
        }
        for (int i = 0; i < 14; i++) {
            v.put("cmos_data[" + i + "]", bytes.get(i));
        }
    }

    private static void hpet(List<String> lines, Map<String, Long> v) {
        for (String l : lines) {
            find(l, "capability " + N + " config " + N, m -> {
                v.put("capability", number(m.group(1)));
                v.put("config", number(m.group(2)));
            });
            find(l, "isr " + N + " counter " + N, m -> {
                v.put("isr", number(m.group(1)));
                v.put("mc64", number(m.group(2)));
            });
            find(l, "timer(\\d) config " + N + " cmp " + N, m -> {
                v.put("timers[" + m.group(1) + "].config", number(m.group(2)));
                v.put("timers[" + m.group(1) + "].cmp", number(m.group(3)));
            });
            find(l, "timer(\\d) period +" + N + " fsb +" + N, m -> {
                v.put("period[" + m.group(1) + "]", number(m.group(2)));
                v.put("timers[" + m.group(1) + "].fsb", number(m.group(3)));
            });
        }
    }

    private static void mtrr(List<String> lines, Map<String, Long> v) {
        for (String l : lines) {
            find(l, "PAT " + N + ", cap " + N + ", default " + N, m -> {
                v.put("msr_pat_cr", number(m.group(1)));
                v.put("msr_mtrr_cap", number(m.group(2)));
                v.put("msr_mtrr_def_type", number(m.group(3)));
            });
            find(l, "var (\\d) +" + N + " +" + N, m -> {
                int i = Integer.parseInt(m.group(1));
                v.put("msr_mtrr_var[" + 2 * i + "]", number(m.group(2)));
                v.put("msr_mtrr_var[" + (2 * i + 1) + "]", number(m.group(3)));
            });
            find(l, "fixed ([0-9a-f]{2}) +" + N, m -> v.put("msr_mtrr_fixed[" + Integer.parseInt(m.group(1), 16) + "]",
                    number(m.group(2))));
        }
    }

    private static void vmce(List<String> lines, Map<String, Long> v) {
        for (String l : lines) {
            find(l, "caps " + N, m -> v.put("caps", number(m.group(1))));
            find(l, "bank(\\d) mci_ctl2 " + N, m -> v.put("mci_ctl2_bank" + m.group(1), number(m.group(2))));
        }
    }

    /** Every {@code name value} pair on the lines, names mapped to Xen's field names. */
    private static void pairs(List<String> lines, Map<String, Long> v, Map<String, String> names) {
        lines.forEach(l -> pairsOf(l, v, names));
    }

    private static void pairsOf(String line, Map<String, Long> v, Map<String, String> names) {
        Matcher m = Pattern.compile("\\b([A-Za-z][A-Za-z0-9_]*) +" + N + "\\b").matcher(line);
        while (m.find()) {
            v.put(names.getOrDefault(m.group(1), m.group(1)), number(m.group(2)));
        }
    }

    private static void find(String line, String regex, java.util.function.Consumer<Matcher> then) {
        Matcher m = Pattern.compile(regex).matcher(line);
        if (m.find()) {
            then.accept(m);
        }
    }

    /** {@code 0x}-hex; else hex if it has a hex letter, decimal otherwise (xen-hvmctx's %u and unprefixed zeros). */
    static long number(String text) {
        if (text.startsWith("0x")) {
            return Long.parseUnsignedLong(text.substring(2), 16);
        }
        return text.matches(".*[a-f].*") ? Long.parseUnsignedLong(text, 16) : Long.parseUnsignedLong(text);
    }
}
