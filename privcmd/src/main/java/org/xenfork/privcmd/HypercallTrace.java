package org.xenfork.privcmd;

import java.io.PrintWriter;
import java.util.Map;
import java.util.Optional;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.Values;

/**
 * {@code --trace} and {@code --dry-run} output: each hypercall by Xen's name,
 * every field sent (the union member its command selects), the result or
 * errno, and the fields Xen changed. Like strace, for Xen.
 *
 * <pre>
 * XEN_DOMCTL_pausedomain -> 0
 *   in:  cmd=0x3 interface_version=0x15 domain=0x5 _pad[0]=0x0 …
 * </pre>
 */
public final class HypercallTrace implements HypercallObserver {
    private final PrintWriter out;
    private final boolean nonZeroOnly;
    private final String indent;

    /** Every field, as {@code --trace} and {@code --dry-run} print it. */
    public HypercallTrace(PrintWriter out) {
        this(out, false, "");
    }

    private HypercallTrace(PrintWriter out, boolean nonZeroOnly, String indent) {
        this.out = out;
        this.nonZeroOnly = nonZeroOnly;
        this.indent = indent;
    }

    /** A shorter trace for people reading along (the demo): fields sent as 0 are left out, lines indented. */
    public static HypercallTrace summary(PrintWriter out, String indent) {
        return new HypercallTrace(out, true, indent);
    }

    @Override
    public void hypercall(String call, StructLayout layout, byte[] sent, byte[] returned, long result, boolean issued) {
        String outcome;
        if (!issued) {
            outcome = "(dry run: not issued)";
        } else if (result < 0 && result >= -4095) {
            outcome = "-> " + Errno.describe((int) -result);
        } else {
            outcome = "-> " + result;
        }
        out.println(indent + call + " " + outcome);
        Map<String, Long> in = StructCodec.decode(layout, sent, Optional.empty());
        out.println(indent + "  in:  " + join(in, null, nonZeroOnly));
        if (returned != null) {
            Map<String, Long> back = StructCodec.decode(layout, returned, Optional.empty());
            String changed = join(back, in, false);
            if (!changed.isEmpty()) {
                out.println(indent + "  out: " + changed);
            }
        }
        out.flush();
    }

    /**
     * {@code path=value} pairs; with {@code unlessEqual}, only those that differ
     * from it; with {@code nonZeroOnly}, only non-zero values. A run of array
     * elements with one value is folded into {@code handle[0..15]=0x0}, so a
     * trace line stays readable.
     */
    private static String join(Map<String, Long> values, Map<String, Long> unlessEqual, boolean nonZeroOnly) {
        StringBuilder sb = new StringBuilder();
        String runArray = null;
        int runFirst = 0;
        int runLast = 0;
        long runValue = 0;
        for (Map.Entry<String, Long> e : values.entrySet()) {
            String path = e.getKey();
            long v = e.getValue();
            if (unlessEqual != null && Long.valueOf(v).equals(unlessEqual.get(path)) || nonZeroOnly && v == 0) {
                continue;
            }
            int bracket = path.lastIndexOf('[');
            boolean element = bracket > 0 && path.endsWith("]") && path.indexOf('.', bracket) < 0;
            if (element) {
                String array = path.substring(0, bracket);
                int index = Integer.parseInt(path.substring(bracket + 1, path.length() - 1));
                if (array.equals(runArray) && index == runLast + 1 && v == runValue) {
                    runLast = index;
                    continue;
                }
                flush(sb, runArray, runFirst, runLast, runValue);
                runArray = array;
                runFirst = index;
                runLast = index;
                runValue = v;
                continue;
            }
            flush(sb, runArray, runFirst, runLast, runValue);
            runArray = null;
            append(sb, path, v);
        }
        flush(sb, runArray, runFirst, runLast, runValue);
        return sb.toString();
    }

    private static void flush(StringBuilder sb, String array, int first, int last, long value) {
        if (array != null) {
            append(sb, array + (first == last ? "[" + first + "]" : "[" + first + ".." + last + "]"), value);
        }
    }

    private static void append(StringBuilder sb, String path, long value) {
        sb.append(sb.length() == 0 ? "" : " ").append(path).append('=').append(Values.hex(value));
    }
}
