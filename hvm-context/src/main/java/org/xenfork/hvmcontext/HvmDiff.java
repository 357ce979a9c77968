package org.xenfork.hvmcontext;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.Values;

/**
 * Field-level differences between two HVM contexts, per record type and
 * instance (vCPU for per-vCPU records). Records are paired by typecode,
 * instance and, for a repeated pair, occurrence; a field is a leaf of the
 * record's layout, and a byte string (such as {@code fpu_regs}) differs in runs
 * of bytes, each reported as {@code path[from..to]}.
 *
 * <p>Bounded for any input: work and memory are linear in the two streams (records
 * are read where they lie, nothing is copied whole), {@link #each} hands each
 * difference on as it is found, and no byte string, however long, yields more than
 * {@value #MAX_RUNS} runs, one {@link LeftOut} summary of the runs after them and
 * one run for the bytes one side lacks, nor a value more than {@value #MAX_HEX_BYTES}
 * bytes of hex ({@code 00ff...(62914560 bytes)}).
 */
public final class HvmDiff {
    /** The most runs of differing bytes one byte string reports one by one; the rest are one {@link LeftOut}. */
    public static final int MAX_RUNS = 64;
    /** The most bytes of a byte string one side of a difference shows as hex; a longer one ends in {@code ...(N bytes)}. */
    public static final int MAX_HEX_BYTES = 64;

    private HvmDiff() {
    }

    /**
     * One difference. {@code field} is null when the whole record is on one side
     * only; {@code a} or {@code b} is null where that side lacks the record or field.
     * Values are the {@link FieldValue#text} of each side, a byte string's cut after
     * {@value #MAX_HEX_BYTES} bytes. {@code leftOut} is set, and {@code a} and {@code b}
     * are null, on the one difference that sums up the runs of a byte string after its
     * first {@value #MAX_RUNS}; {@code field} is then the range they lie in.
     */
    public record Difference(String type, int instance, boolean perVcpu, String field, String a, String b,
                             LeftOut leftOut) {
        public Difference(String type, int instance, boolean perVcpu, String field, String a, String b) {
            this(type, instance, perVcpu, field, a, b, null);
        }

        /** {@code CPU vcpu 0}, {@code PIC instance 1}. */
        public String record() {
            return type + (perVcpu ? " vcpu " : " instance ") + instance;
        }

        @Override
        public String toString() {
            if (leftOut != null) {
                return record() + ": " + field + " " + leftOut;
            }
            String left = a == null ? "(absent)" : a;
            String right = b == null ? "(absent)" : b;
            return record() + ": " + (field == null ? "" : field + " ") + left + " -> " + right;
        }
    }

    /** The runs of differing bytes of one byte string not reported one by one, and how many bytes they hold. */
    public record LeftOut(long runs, long bytes) {
        @Override
        public String toString() {
            return runs + " more runs of differing bytes (" + bytes + " bytes) left out";
        }
    }

    /** Every difference, in the order of {@link #each}. Holds them all: {@link #each} is for output of any size. */
    public static List<Difference> between(HvmContext a, HvmContext b) {
        List<Difference> out = new ArrayList<>();
        each(a, b, out::add);
        return out;
    }

    /**
     * Hands each difference to {@code out} as it is found: in A's record order, then
     * records only B has, then END and what follows it.
     *
     * @return how many differences there were
     */
    public static long each(HvmContext a, HvmContext b, Consumer<Difference> out) {
        Sink sink = new Sink(out);
        List<HvmRecord> ra = a.records();
        List<HvmRecord> rb = b.records();
        HvmStreamIndex ia = a.index();
        HvmStreamIndex ib = b.index();
        int[] partner = pair(ia, ib);
        boolean[] paired = new boolean[rb.size()];
        for (int i = 0; i < ra.size(); i++) {
            int j = partner[i];
            if (j >= 0) {
                paired[j] = true;
                int x = ia.bodyOffset(i);
                int y = ib.bodyOffset(j);
                // the same bytes read with the same layout: passed over before any record is made for them
                if (!Arrays.equals(ia.stream(), x, x + ia.length(i), ib.stream(), y, y + ib.length(j))) {
                    compare(ra.get(i), rb.get(j), sink);
                }
            } else {
                HvmRecord r = ra.get(i);
                sink.add(new Difference(r.name(), r.instance(), r.isPerVcpu(), null, r.length() + " bytes", null));
            }
        }
        for (int j = 0; j < rb.size(); j++) {
            if (!paired[j]) {
                HvmRecord y = rb.get(j);
                sink.add(new Difference(y.name(), y.instance(), y.isPerVcpu(), null, null, y.length() + " bytes"));
            }
        }
        if (a.endInstance() != b.endInstance()) {
            sink.add(new Difference("END", 0, false, "instance", Values.hex(a.endInstance()), Values.hex(b.endInstance())));
        }
        if (a.endLength() != b.endLength()) {
            sink.add(new Difference("END", 0, false, "length", Values.hex(a.endLength()), Values.hex(b.endLength())));
        }
        new Place("END", 0, false).bytes("trailing", a.streamRef(), a.trailingOffset(), a.size() - a.trailingOffset(),
                b.streamRef(), b.trailingOffset(), b.size() - b.trailingOffset(), sink);
        return sink.count;
    }

    /** Counts what it passes on. */
    private static final class Sink {
        private final Consumer<Difference> out;
        private long count;

        Sink(Consumer<Difference> out) {
            this.out = out;
        }

        void add(Difference d) {
            count++;
            out.accept(d);
        }
    }

    /**
     * For each record of A, the index of its partner in B (same typecode and instance, the same
     * occurrence of that pair), or -1. Two streams of the same shape (Xen's, of one domain at two
     * times) pair record by record; others are paired by sorting (typecode, instance, index) keys of
     * both sides, so the cost is n log n in the record count and 8 bytes a record, whatever the input.
     */
    private static int[] pair(HvmStreamIndex a, HvmStreamIndex b) {
        int[] partner = new int[a.count()];
        if (sameShape(a, b)) {
            Arrays.setAll(partner, i -> i);
            return partner;
        }
        Arrays.fill(partner, -1);
        long[] ka = sortedKeys(a);
        long[] kb = sortedKeys(b);
        // Within one (typecode, instance) group the keys are in stream order, so the k-th of A meets the k-th of B.
        for (int p = 0, q = 0; p < ka.length && q < kb.length; ) {
            long ga = ka[p] >>> 31;
            long gb = kb[q] >>> 31;
            if (ga < gb) {
                p++;
            } else if (ga > gb) {
                q++;
            } else {
                partner[(int) (ka[p++] & 0x7fff_ffff)] = (int) (kb[q++] & 0x7fff_ffff);
            }
        }
        return partner;
    }

    private static boolean sameShape(HvmStreamIndex a, HvmStreamIndex b) {
        if (a.count() != b.count()) {
            return false;
        }
        for (int i = 0; i < a.count(); i++) {
            if (a.typecode(i) != b.typecode(i) || a.instance(i) != b.instance(i)) {
                return false;
            }
        }
        return true;
    }

    /** typecode (16 bits), instance (16), record index (31): positive, so sorting orders them as the fields do. */
    private static long[] sortedKeys(HvmStreamIndex ix) {
        long[] keys = new long[ix.count()];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = ((long) (ix.typecode(i) & 0xffff) << 47) | ((long) (ix.instance(i) & 0xffff) << 31) | i;
        }
        Arrays.sort(keys);
        return keys;
    }

    /** Two paired records whose bodies differ. */
    private static void compare(HvmRecord ra, HvmRecord rb, Sink out) {
        Place at = new Place(ra.name(), ra.instance(), ra.isPerVcpu());
        if (ra.length() != rb.length()) {
            out.add(at.difference("length", Integer.toString(ra.length()), Integer.toString(rb.length())));
        }
        StructLayout la = ra.layoutOrNull();
        StructLayout lb = rb.layoutOrNull();
        if (la == null) { // an unknown typecode on both sides (a pair has one typecode)
            at.bytes("raw", ra.array(), ra.base(), ra.length(), rb.array(), rb.base(), rb.length(), out);
        } else if (la.equals(lb)) {
            sameLayout(at, ra, rb, FieldPlan.of(la), out);
        } else {
            byPath(at, ra, rb, out);
        }
    }

    /**
     * Two records read with one layout: their fields are the same plan's items (those inside each
     * body), CPU_MSR's entries and CPU_XSAVE's extended bytes, compared where they lie. Fields of A in
     * A's order, then fields only B has.
     */
    private static void sameLayout(Place at, HvmRecord ra, HvmRecord rb, List<FieldPlan.Item> plan, Sink out) {
        for (FieldPlan.Item item : plan) {
            if (item.end() <= ra.length()) {
                if (item.end() <= rb.length()) {
                    at.item(item, -1, ra.array(), ra.base(), rb.array(), rb.base(), out);
                } else {
                    out.add(at.difference(item.path(), at.text(item.read("", ra.array(), ra.base())), null));
                }
            }
        }
        int ea = ra.entries();
        int eb = rb.entries();
        StructLayout entry = ea + eb == 0 ? null : ra.type().orElseThrow().element().orElseThrow();
        List<FieldPlan.Item> element = entry == null ? List.of() : FieldPlan.of(entry);
        // A million entries are a million turns of this loop: an entry whose bytes are the same is passed over
        // with one comparison, and nothing is made for it (not even by code the JIT has not compiled yet).
        int size = entry == null ? 0 : entry.size();
        int firstA = ea == 0 ? 0 : ra.elementBase(0);
        int firstB = eb == 0 ? 0 : rb.elementBase(0);
        for (int i = 0; i < Math.min(ea, eb); i++) {
            int offA = firstA + i * size;
            int offB = firstB + i * size;
            if (!Arrays.equals(ra.array(), offA, offA + size, rb.array(), offB, offB + size)) {
                for (FieldPlan.Item item : element) {
                    at.item(item, i, ra.array(), offA, rb.array(), offB, out);
                }
            }
        }
        for (int i = eb; i < ea; i++) {
            for (FieldPlan.Item item : element) {
                FieldValue fa = ra.element(i, item);
                out.add(at.difference(fa.path(), at.text(fa), null));
            }
        }
        int xa = ra.extendedLength();
        int xb = rb.extendedLength();
        if (xa > 0 && xb > 0) {
            at.bytes(HvmRecord.EXTENDED, ra.array(), ra.base() + ra.length() - xa, xa,
                    rb.array(), rb.base() + rb.length() - xb, xb, out);
        } else if (xa > 0) {
            out.add(at.difference(HvmRecord.EXTENDED, hex(ra.array(), ra.base() + ra.length() - xa, xa), null));
        }
        for (FieldPlan.Item item : plan) {
            if (item.end() > ra.length() && item.end() <= rb.length()) {
                out.add(at.difference(item.path(), null, at.text(item.read("", rb.array(), rb.base()))));
            }
        }
        for (int i = ea; i < eb; i++) {
            for (FieldPlan.Item item : element) {
                FieldValue fb = rb.element(i, item);
                out.add(at.difference(fb.path(), null, at.text(fb)));
            }
        }
        if (xb > 0 && xa == 0) {
            out.add(at.difference(HvmRecord.EXTENDED, null, hex(rb.array(), rb.base() + rb.length() - xb, xb)));
        }
    }

    /**
     * Two records read with different layouts (a 1016-byte compat CPU record and a native one):
     * fields paired by path. Both layouts are fixed structs, so this is a few hundred fields.
     */
    private static void byPath(Place at, HvmRecord ra, HvmRecord rb, Sink out) {
        Map<String, FieldValue> fb = new HashMap<>();
        List<FieldValue> onlyB = new ArrayList<>();
        rb.forEachField(f -> fb.put(f.path(), f));
        ra.forEachField(fa -> {
            FieldValue other = fb.remove(fa.path());
            if (other == null) {
                out.add(at.difference(fa.path(), at.text(fa), null));
            } else if (fa.isBytes() && other.isBytes()) {
                at.bytes(fa.path(), fa.bytes(), 0, fa.bytes().length, other.bytes(), 0, other.bytes().length, out);
            } else if (fa.isBytes() != other.isBytes() || fa.bits() != other.bits()) {
                out.add(at.difference(fa.path(), at.text(fa), at.text(other)));
            }
        });
        rb.forEachField(f -> {
            if (fb.containsKey(f.path())) {
                onlyB.add(f);
            }
        });
        onlyB.forEach(f -> out.add(at.difference(f.path(), null, at.text(f))));
    }

    /** The record a difference is in. */
    private record Place(String type, int instance, boolean perVcpu) {
        Difference difference(String field, String a, String b) {
            return new Difference(type, instance, perVcpu, field, a, b);
        }

        /** A field's text, a byte string's cut after {@link #MAX_HEX_BYTES}. */
        String text(FieldValue f) {
            return f.isBytes() ? hex(f.bytes(), 0, f.bytes().length) : f.text();
        }

        /**
         * One plan item of each side, read at its base in each array; {@code entry} is CPU_MSR's entry
         * ({@code msr[entry].}), or -1. The path is built only for a difference.
         */
        void item(FieldPlan.Item item, int entry, byte[] a, int baseA, byte[] b, int baseB, Sink out) {
            if (item.leaf() == null) {
                bytes(path(item, entry), a, baseA + item.offset(), item.size(), b, baseB + item.offset(), item.size(), out);
            } else {
                long x = item.leaf().read(a, baseA);
                long y = item.leaf().read(b, baseB);
                if (x != y) {
                    out.add(difference(path(item, entry), Values.hex(x), Values.hex(y)));
                }
            }
        }

        private static String path(FieldPlan.Item item, int entry) {
            return entry < 0 ? item.path() : HvmRecord.entryPrefix(entry) + item.path();
        }

        /**
         * Runs of differing bytes of {@code aLen} bytes at {@code aFrom} and {@code bLen} at {@code bFrom}:
         * the first {@link #MAX_RUNS} one by one, then one {@link LeftOut} for the rest, then the bytes
         * one side lacks as one run with that side absent.
         */
        void bytes(String path, byte[] a, int aFrom, int aLen, byte[] b, int bFrom, int bLen, Sink out) {
            int common = Math.min(aLen, bLen);
            int shown = 0;
            long moreRuns = 0;
            long moreBytes = 0;
            int leftFrom = 0;
            int leftTo = 0;
            int i = 0;
            while (i < common) {
                int m = Arrays.mismatch(a, aFrom + i, aFrom + common, b, bFrom + i, bFrom + common);
                if (m < 0) {
                    break;
                }
                int from = i + m;
                int to = from + 1;
                while (to < common && a[aFrom + to] != b[bFrom + to]) {
                    to++;
                }
                if (shown < MAX_RUNS) {
                    out.add(difference(range(path, from, to), hex(a, aFrom + from, to - from), hex(b, bFrom + from, to - from)));
                    shown++;
                } else {
                    if (moreRuns == 0) {
                        leftFrom = from;
                    }
                    moreRuns++;
                    moreBytes += to - from;
                    leftTo = to;
                }
                i = to;
            }
            if (moreRuns > 0) {
                out.add(new Difference(type, instance, perVcpu, range(path, leftFrom, leftTo), null, null,
                        new LeftOut(moreRuns, moreBytes)));
            }
            if (aLen != bLen) {
                int to = Math.max(aLen, bLen);
                out.add(difference(range(path, common, to), aLen > common ? hex(a, aFrom + common, to - common) : null,
                        bLen > common ? hex(b, bFrom + common, to - common) : null));
            }
        }
    }

    private static String range(String path, int from, int to) {
        return path + (to - from == 1 ? "[" + from + "]" : "[" + from + ".." + (to - 1) + "]");
    }

    /** {@code len} bytes at {@code from} as hex, cut after {@link #MAX_HEX_BYTES}: {@code 00ff...(4096 bytes)}. */
    static String hex(byte[] bytes, int from, int len) {
        String shown = Values.toHex(Arrays.copyOfRange(bytes, from, from + Math.min(len, MAX_HEX_BYTES)));
        return len <= MAX_HEX_BYTES ? shown : shown + "...(" + len + " bytes)";
    }
}
