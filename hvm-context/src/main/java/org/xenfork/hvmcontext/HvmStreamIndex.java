package org.xenfork.hvmcontext;

import java.util.Optional;
import org.xenfork.abi.XenRelease;

/**
 * Where each record of an HVM save stream starts, found by walking its
 * descriptors once and copying nothing: the fast way to reach one record
 * ({@link #find}) without decoding the others. Building the index checks
 * everything the release's loader checks about the stream's framing (HEADER
 * first with the right magic and version, each record inside the stream, each
 * known type at a length the loader takes, an END), so a record it returns can
 * be read with its layout. Records of a typecode Xen has no type for are
 * indexed like any other (a newer Xen may write them).
 *
 * <p>The index reads the caller's array; it must not change while the index is used.
 *
 * <pre>{@code
 * HvmStreamIndex ix = HvmStreamIndex.of(stream, XenRelease.parse("4.17"));
 * int cpu0 = ix.find(ix.types().byName("CPU").orElseThrow().code(), 0);
 * long rip = cpuLayout.leaf("rip").read(stream, ix.bodyOffset(cpu0));
 * }</pre>
 */
public final class HvmStreamIndex {
    private final byte[] stream;
    private final RecordTypes types;
    private final int[] offsets;
    private final int count;
    private final int end;

    private HvmStreamIndex(byte[] stream, RecordTypes types, int[] offsets, int count, int end) {
        this.stream = stream;
        this.types = types;
        this.offsets = offsets;
        this.count = count;
        this.end = end;
    }

    public static HvmStreamIndex of(byte[] stream, XenRelease release) throws HvmContextException {
        return of(stream, RecordTypes.forRelease(release));
    }

    /**
     * Indexes {@code stream}, or says where and why Xen's loader would refuse it.
     * Work and memory are bounded by the stream's length: each record takes at least
     * a descriptor's bytes, and no length field is trusted before it is checked
     * against what is left.
     */
    public static HvmStreamIndex of(byte[] stream, RecordTypes types) throws HvmContextException {
        int d = types.descriptorSize;
        int headerCode = types.header().code();
        int endCode = types.end().code();
        int[] offsets = new int[descriptorsBeforeEnd(stream, types)];
        int n = 0;
        int off = 0;
        while (true) {
            int left = stream.length - off;
            if (left < d) {
                throw HvmContextException.at(off, left == 0 && n == 0
                        ? "empty input: an HVM context starts with a " + d + "-byte HEADER descriptor"
                        : left == 0 ? "the stream ends after " + n + " records without an END record (typecode " + endCode + ")"
                        : "the stream ends " + left + " bytes into a " + d + "-byte descriptor, without an END record");
            }
            int code = (int) types.typecode.read(stream, off);
            int instance = (int) types.instance.read(stream, off);
            long length = types.length.read(stream, off) & 0xffff_ffffL;
            if (code == endCode) {
                if (n == 0) {
                    throw HvmContextException.inRecord(0, types.nameOf(code), instance, off, "the stream starts with END; it must start with HEADER");
                }
                return new HvmStreamIndex(stream, types, offsets, n, off);
            }
            if (n == 0 && code != headerCode) {
                throw HvmContextException.inRecord(0, types.nameOf(code), instance, off, "not an HVM context: it starts with typecode "
                        + code + ", not HEADER (" + headerCode + ")");
            }
            if (n > 0 && code == headerCode) {
                throw HvmContextException.inRecord(n, types.nameOf(code), instance, off,
                        "HEADER again: Xen's loader takes HEADER only as the first record");
            }
            if (length > left - d) {
                throw HvmContextException.inRecord(n, types.nameOf(code), instance, off, "length " + length + " runs past the end of the "
                        + stream.length + "-byte stream (" + (left - d) + " bytes follow the descriptor)");
            }
            int body = off + d;
            String problem = recordProblem(types, n, code, stream, body, length);
            if (problem != null) {
                throw HvmContextException.inRecord(n, types.nameOf(code), instance, off, problem);
            }
            offsets[n++] = off; // the count walked the same descriptors: there is room
            off = body + (int) length;
        }
    }

    /**
     * How many descriptors a walk meets before END (or before the stream stops framing): the size of the
     * offset table, so that it is made once at its size (4 bytes a record), not grown by doubling.
     */
    private static int descriptorsBeforeEnd(byte[] stream, RecordTypes types) {
        int d = types.descriptorSize;
        int endCode = types.end().code();
        int n = 0;
        for (long off = 0; off + d <= stream.length && (int) types.typecode.read(stream, (int) off) != endCode; n++) {
            off += d + (types.length.read(stream, (int) off) & 0xffff_ffffL);
        }
        return n;
    }

    /**
     * Why the loader would refuse record {@code n} with this typecode and a body of
     * {@code length} bytes at {@code body} in {@code bytes} (which holds it), or null:
     * the type's length rule, and for HEADER its magic and version.
     */
    static String recordProblem(RecordTypes types, int n, int code, byte[] bytes, int body, long length) {
        RecordType type = types.typeOrNull(code);
        String problem = type == null ? null : type.lengthProblem(length, bytes, body);
        return problem == null && n == 0 ? headerProblem(types, bytes, body) : problem;
    }

    /** {@code arch_hvm_check}: the magic and version must be Xen's (a CPUID mismatch is only logged there). */
    private static String headerProblem(RecordTypes types, byte[] stream, int body) {
        long magic = types.magic.read(stream, body);
        if (magic != types.fileMagic) {
            return "not an HVM context: HEADER magic is 0x" + Long.toHexString(magic) + ", not HVM_FILE_MAGIC 0x"
                    + Long.toHexString(types.fileMagic);
        }
        long version = types.version.read(stream, body);
        return version == types.fileVersion ? null
                : "HEADER version is " + version + "; Xen's loader takes only HVM_FILE_VERSION " + types.fileVersion;
    }

    /**
     * The same index over {@code edited}, a copy of this stream with bytes changed inside
     * record bodies only (an edit keeps every descriptor, so every offset still holds).
     * The offset table is shared: neither index ever changes it.
     */
    HvmStreamIndex over(byte[] edited) {
        return new HvmStreamIndex(edited, types, offsets, count, end);
    }

    public RecordTypes types() {
        return types;
    }

    public byte[] stream() {
        return stream;
    }

    /** Records before END, HEADER included. */
    public int count() {
        return count;
    }

    public int descriptorOffset(int i) {
        return offsets[check(i)];
    }

    public int bodyOffset(int i) {
        return offsets[check(i)] + types.descriptorSize;
    }

    public int typecode(int i) {
        return (int) types.typecode.read(stream, offsets[check(i)]);
    }

    public int instance(int i) {
        return (int) types.instance.read(stream, offsets[check(i)]);
    }

    /** The body's length (the indexing checked it fits an int and the stream). */
    public int length(int i) {
        return (int) types.length.read(stream, offsets[check(i)]);
    }

    /** The record's type, or empty for a typecode Xen has none for. */
    public Optional<RecordType> type(int i) {
        return types.byCode(typecode(i));
    }

    /** The first record with this typecode and instance, or -1. */
    public int find(int typecode, int instance) {
        for (int i = 0; i < count; i++) {
            int off = offsets[i];
            if ((int) types.typecode.read(stream, off) == typecode && (int) types.instance.read(stream, off) == instance) {
                return i;
            }
        }
        return -1;
    }

    /** Where the END descriptor starts. */
    public int endOffset() {
        return end;
    }

    private int check(int i) {
        if (i < 0 || i >= count) {
            throw new IndexOutOfBoundsException("record " + i + " of " + count);
        }
        return i;
    }
}
