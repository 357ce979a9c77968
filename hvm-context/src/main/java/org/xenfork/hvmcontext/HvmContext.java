package org.xenfork.hvmcontext;

import java.math.BigInteger;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.RandomAccess;
import org.xenfork.abi.XenRelease;

/**
 * An HVM context, Xen's save-record stream ({@code XEN_DOMCTL_gethvmcontext}),
 * parsed: HEADER and the records after it in stream order, the END descriptor,
 * and whatever follows END. Lossless: {@link #serialise} gives back exactly the
 * bytes {@link #parse} read, whatever they were, for every stream parse accepts;
 * the END descriptor's instance and length, records of typecodes Xen has no type
 * for, and bytes after END (all of which Xen's loader ignores or refuses) are
 * kept as they were. Immutable: an edit makes a new context.
 *
 * <pre>{@code
 * HvmContext ctx = HvmContext.parse(bytes, XenRelease.parse("4.17"));
 * long rip = ctx.find("CPU", 0).orElseThrow().number("rip");
 * byte[] edited = ctx.withField("CPU", 0, "rip", BigInteger.valueOf(rip + 2)).serialise();
 * }</pre>
 */
public final class HvmContext {
    private final RecordTypes types;
    /** The stream: this context's own copy, never changed and never handed out. */
    private final byte[] stream;
    /** Where each record starts in {@link #stream}, found once when it was parsed. */
    private final HvmStreamIndex index;
    private final List<HvmRecord> records;

    private HvmContext(RecordTypes types, HvmStreamIndex index) {
        this.types = types;
        this.stream = index.stream();
        this.index = index;
        this.records = new RecordList();
    }

    /** Parses a stream by the rules of Xen {@code release}'s loader (see {@link HvmStreamIndex#of}). */
    public static HvmContext parse(byte[] stream, XenRelease release) throws HvmContextException {
        return parse(stream, RecordTypes.forRelease(release));
    }

    /**
     * Parses a copy of {@code stream} (the context is immutable; the caller may change its array). Work
     * and memory are linear in the stream's length: the copy and one offset per record, nothing per
     * record beyond that, since each record is read from the copy when it is asked for.
     */
    public static HvmContext parse(byte[] stream, RecordTypes types) throws HvmContextException {
        return new HvmContext(types, HvmStreamIndex.of(stream.clone(), types));
    }

    /** A context made record by record (tests, tools); {@link Builder#build} checks it as {@link #parse} would. */
    public static Builder builder(XenRelease release) {
        return new Builder(RecordTypes.forRelease(release));
    }

    /** The stream's bytes: each record's descriptor and body in order, the END descriptor, the bytes after it. */
    public byte[] serialise() {
        return stream.clone();
    }

    /** The serialised length in bytes. */
    public int size() {
        return stream.length;
    }

    public XenRelease release() {
        return types.release();
    }

    public RecordTypes types() {
        return types;
    }

    /**
     * The records before END, HEADER first, in stream order. An unmodifiable list whose
     * records are made as they are asked for, each a view of this context's stream.
     */
    public List<HvmRecord> records() {
        return records;
    }

    public HvmRecord header() {
        return records.get(0);
    }

    /** The first record of a type (Xen's name, any case) with this instance. */
    public Optional<HvmRecord> find(String type, int instance) {
        int i = indexOf(type, instance);
        return i < 0 ? Optional.empty() : Optional.of(records.get(i));
    }

    /** The index of the first record of a type with this instance, or -1. */
    public int indexOf(String type, int instance) {
        Optional<RecordType> t = types.byName(type);
        return t.isEmpty() ? -1 : index.find(t.get().code(), instance);
    }

    /** Where record {@code i}'s descriptor starts in the serialised stream ({@code records().size()}: END's). */
    public int offsetOf(int i) {
        return i == index.count() ? index.endOffset() : index.descriptorOffset(i);
    }

    /** The vCPUs that have a CPU record (the ones the loader brings up), ascending. */
    public List<Integer> vcpus() {
        int cpu = types.byName("CPU").orElseThrow().code();
        BitSet seen = new BitSet();
        for (int i = 0; i < index.count(); i++) {
            if (index.typecode(i) == cpu) {
                seen.set(index.instance(i));
            }
        }
        return seen.stream().boxed().toList();
    }

    /** The END descriptor's instance: 0 as Xen writes it; the loader does not read it. */
    public int endInstance() {
        return (int) types.instance.read(stream, index.endOffset());
    }

    /** The END descriptor's length: 0 as Xen writes it; the loader does not read it. */
    public long endLength() {
        return types.length.read(stream, index.endOffset()) & 0xffff_ffffL;
    }

    /** A copy of the bytes after END (none as Xen writes a stream; its loader ignores them). */
    public byte[] trailing() {
        return Arrays.copyOfRange(stream, trailingOffset(), stream.length);
    }

    /** Where the bytes after END start. */
    int trailingOffset() {
        return index.endOffset() + types.descriptorSize;
    }

    /** For the codec: the stream itself, never handed out. */
    byte[] streamRef() {
        return stream;
    }

    /** For the codec: where each record lies in {@link #streamRef}. */
    HvmStreamIndex index() {
        return index;
    }

    /**
     * This context with one field of one record set ({@code rip} of {@code CPU} vCPU 0,
     * {@code timer_divisor} of {@code LAPIC} 1, {@code msr[0].val} of {@code CPU_MSR} 0).
     * Lengths never change, so the stream keeps its shape; a value equal to the
     * field's current one gives a context that serialises to the same bytes.
     */
    public HvmContext withField(String type, int instance, String path, BigInteger value) throws HvmContextException {
        int i = indexOf(type, instance);
        if (i < 0) {
            String name = types.byName(type).map(RecordType::name).orElse(null);
            if (name == null) {
                throw HvmContextException.because("no record type " + type + " in Xen " + release() + "; types: "
                        + String.join(", ", types.all().stream().map(RecordType::name).toList()));
            }
            List<Integer> have = records.stream().filter(r -> r.name().equals(name)).map(HvmRecord::instance).toList();
            throw HvmContextException.because("the stream has no " + name + " record with instance " + instance
                    + (have.isEmpty() ? " (none at all)" : "; it has instances " + have));
        }
        return withField(i, path, value);
    }

    /** This context with one field of record {@code i} set: a copy of the stream with the record's body edited. */
    public HvmContext withField(int i, String path, BigInteger value) throws HvmContextException {
        HvmRecord r = records.get(i);
        HvmRecord edited;
        try {
            edited = r.with(path, value);
        } catch (IllegalArgumentException e) {
            throw HvmContextException.inRecord(i, r.name(), r.instance(), offsetOf(i), e.getMessage());
        }
        // An edited context stays one parse accepts: HEADER's magic, CPU_MSR's count are framing too.
        String problem = HvmStreamIndex.recordProblem(types, i, r.typecode(), edited.array(), edited.base(), edited.length());
        if (problem != null) {
            throw HvmContextException.inRecord(i, r.name(), r.instance(), offsetOf(i), path + " = 0x" + value.toString(16)
                    + " would make a record Xen's loader refuses: " + problem);
        }
        byte[] copy = stream.clone();
        System.arraycopy(edited.array(), edited.base(), copy, r.base(), r.length());
        return new HvmContext(types, index.over(copy));
    }

    /**
     * Refuses a context the release's loader would refuse for a typecode it has no
     * handler for (EINVAL): parse keeps such records, {@code sethvmcontext} cannot
     * take them.
     */
    public void requireKnownTypes() throws HvmContextException {
        for (int i = 0; i < index.count(); i++) {
            if (index.type(i).isEmpty()) {
                HvmRecord r = records.get(i);
                throw HvmContextException.inRecord(i, r.name(), r.instance(), offsetOf(i), "typecode " + r.typecode()
                        + " is no record type of Xen " + release() + ": its loader refuses the stream (EINVAL)");
            }
        }
    }

    /**
     * Refuses a context with a per-vCPU record for a vCPU the target domain does not have
     * ({@code maxVcpus}: its max_vcpu_id + 1): Xen's loader refuses the whole stream then (EINVAL),
     * after the domain was paused for it. Call it before {@code sethvmcontext}: fork's {@code HvmContextLoader}
     * does, with the domain's max_vcpus from getdomaininfo.
     */
    public void requireFits(int maxVcpus) throws HvmContextException {
        for (int i = 0; i < index.count(); i++) {
            if (index.instance(i) >= maxVcpus && records.get(i).isPerVcpu()) {
                HvmRecord r = records.get(i);
                throw HvmContextException.inRecord(i, r.name(), r.instance(), offsetOf(i), r.label()
                        + ", but the domain has vCPUs 0 to " + (maxVcpus - 1) + " (Xen's loader refuses it: EINVAL)");
            }
        }
    }

    /** The records, each made from the stream when it is asked for. */
    private final class RecordList extends AbstractList<HvmRecord> implements RandomAccess {
        @Override
        public HvmRecord get(int i) {
            int code = index.typecode(i);
            return new HvmRecord(code, index.instance(i), stream, index.bodyOffset(i), index.length(i), types.typeOrNull(code));
        }

        @Override
        public int size() {
            return index.count();
        }
    }

    static void writeDescriptor(RecordTypes types, byte[] out, int off, int typecode, int instance, long length) {
        types.typecode.write(out, off, typecode);
        types.instance.write(out, off, instance);
        types.length.write(out, off, length);
    }

    @Override
    public boolean equals(Object o) {
        // Lossless: two contexts of the same rules are equal exactly when their streams are.
        return o instanceof HvmContext c && types == c.types && Arrays.equals(stream, c.stream);
    }

    @Override
    public int hashCode() {
        return types.release().hashCode() * 31 + Arrays.hashCode(stream);
    }

    @Override
    public String toString() {
        return "HVM context (Xen " + release() + " rules, " + size() + " bytes, " + records.size() + " records before END)";
    }

    /** Records one by one, then END's descriptor and what follows it; {@link #build} parses the result. */
    public static final class Builder {
        private final RecordTypes types;
        private final List<byte[]> parts = new ArrayList<>();
        private int endInstance;
        private long endLength;
        private byte[] trailing = new byte[0];

        private Builder(RecordTypes types) {
            this.types = types;
        }

        /** A record: descriptor (typecode, instance, the body's length) and body. */
        public Builder record(int typecode, int instance, byte[] body) {
            byte[] part = new byte[types.descriptorSize + body.length];
            writeDescriptor(types, part, 0, typecode, instance, body.length);
            System.arraycopy(body, 0, part, types.descriptorSize, body.length);
            parts.add(part);
            return this;
        }

        /** END's instance and length (both 0 unless set). */
        public Builder end(int instance, long length) {
            this.endInstance = instance;
            this.endLength = length;
            return this;
        }

        public Builder trailing(byte[] bytes) {
            this.trailing = bytes.clone();
            return this;
        }

        /** The context, checked as {@link HvmContext#parse} checks a stream. */
        public HvmContext build() throws HvmContextException {
            int size = parts.stream().mapToInt(p -> p.length).sum() + types.descriptorSize + trailing.length;
            byte[] stream = new byte[size];
            int off = 0;
            for (byte[] p : parts) {
                System.arraycopy(p, 0, stream, off, p.length);
                off += p.length;
            }
            writeDescriptor(types, stream, off, types.end().code(), endInstance, endLength);
            System.arraycopy(trailing, 0, stream, off + types.descriptorSize, trailing.length);
            return new HvmContext(types, HvmStreamIndex.of(stream, types)); // the array is the builder's own: no copy
        }
    }
}
