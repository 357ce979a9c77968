package org.xenfork.bench;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.Set;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import org.xenfork.privcmd.HypercallBuffer;
import org.xenfork.privcmd.NativeException;
import org.xenfork.privcmd.Privcmd;

/**
 * Benchmark-only prototype of {@code Hypervisor.domainInfo}, to measure two changes proposed for
 * privcmd and abi (docs/PERFORMANCE.md) before anyone makes them. It sends the same bytes through
 * the same kind of buffer and the same {@link Privcmd#hypercall}, and returns the same
 * {@link DomainInfo}. What differs:
 * <ul>
 *   <li>names resolved once: every {@link Leaf}, field offset and constant is looked up at
 *       construction, so a call does no map lookup by string, makes no {@code Optional}, and builds
 *       no {@code "XEN_DOMCTL_" + cmd} string (privcmd's {@code Hypervisor});</li>
 *   <li>with {@code fastLeaves}, whole (non-bitfield) 1/2/4/8-byte leaves are read and written with a
 *       little-endian byte-array {@link VarHandle} rather than byte by byte (abi's {@code Leaf}).</li>
 * </ul>
 * privcmd and abi themselves are unchanged.
 */
final class PrecomputedDomainInfo {
    private static final VarHandle I16 = MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I32 = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle I64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private final Privcmd privcmd;
    private final boolean fastLeaves;
    private final long hDomctl;
    private final long getdomaininfo;
    private final long domctlVersion;
    private final Leaf cmd;
    private final Leaf version;
    private final Leaf domain;
    private final int base;
    private final Leaf iDomain, iFlags, iTotPages, iMaxPages, iOutstanding, iShrPages, iPagedPages, iSharedInfoFrame,
            iCpuTime, iOnlineVcpus, iMaxVcpuId, iSsidref, iCpupool, iGpaddrBits, iEmulationFlags, iMiscFlags;
    private final int handleOffset;
    private final DomainFlag[] flags = DomainFlag.values();
    private final long[] flagBits = new long[flags.length];
    private final long shutdownShift;
    private final long shutdownMask;
    private final byte[] image;
    private final HypercallBuffer buffer;

    PrecomputedDomainInfo(Privcmd privcmd, Abi abi, boolean fastLeaves) throws NativeException {
        this.privcmd = privcmd;
        this.fastLeaves = fastLeaves;
        StructLayout d = abi.struct("xen_domctl");
        StructLayout i = abi.struct("xen_domctl_getdomaininfo");
        hDomctl = abi.constant("__HYPERVISOR_domctl");
        getdomaininfo = abi.constant("XEN_DOMCTL_getdomaininfo");
        domctlVersion = abi.constant("XEN_DOMCTL_INTERFACE_VERSION");
        cmd = d.leaf("cmd");
        version = d.leaf("interface_version");
        domain = d.leaf("domain");
        base = d.field("u.getdomaininfo").orElseThrow().offset();
        iDomain = i.leaf("domain");
        iFlags = i.leaf("flags");
        iTotPages = i.leaf("tot_pages");
        iMaxPages = i.leaf("max_pages");
        iOutstanding = i.leaf("outstanding_pages");
        iShrPages = i.leaf("shr_pages");
        iPagedPages = i.leaf("paged_pages");
        iSharedInfoFrame = i.leaf("shared_info_frame");
        iCpuTime = i.leaf("cpu_time");
        iOnlineVcpus = i.leaf("nr_online_vcpus");
        iMaxVcpuId = i.leaf("max_vcpu_id");
        iSsidref = i.leaf("ssidref");
        iCpupool = i.leaf("cpupool");
        iGpaddrBits = i.field("gpaddr_bits").isPresent() ? i.leaf("gpaddr_bits") : null;
        iEmulationFlags = i.leaf("arch_config.emulation_flags");
        iMiscFlags = i.field("arch_config.misc_flags").isPresent() ? i.leaf("arch_config.misc_flags") : null;
        handleOffset = base + i.field("handle").orElseThrow().offset();
        for (int k = 0; k < flags.length; k++) {
            flagBits[k] = abi.constant(flags[k].xenName());
        }
        shutdownShift = abi.constant("XEN_DOMINF_shutdownshift");
        shutdownMask = abi.constant("XEN_DOMINF_shutdownmask");
        image = new byte[d.size()];
        buffer = privcmd.buffers().acquire(d.size());
    }

    DomainInfo domainInfo(int domid) {
        byte[] b = image;
        Arrays.fill(b, (byte) 0);
        write(cmd, b, getdomaininfo);
        write(version, b, domctlVersion);
        write(domain, b, domid);
        buffer.put(b, b.length);
        int errno = 0;
        try {
            privcmd.hypercall(hDomctl, buffer.address(), 0, 0, 0, 0);
        } catch (NativeException e) {
            errno = e.errno();
        }
        buffer.get(b, b.length);
        if (errno != 0) {
            throw new IllegalStateException("XEN_DOMCTL_getdomaininfo: errno " + errno);
        }
        long word = read(iFlags, b);
        Set<DomainFlag> states = EnumSet.noneOf(DomainFlag.class);
        for (int k = 0; k < flags.length; k++) {
            if ((word & flagBits[k]) != 0) {
                states.add(flags[k]);
            }
        }
        DomainInfo info = new DomainInfo((int) read(iDomain, b), word, states,
                (int) ((word >>> shutdownShift) & shutdownMask), read(iTotPages, b),
                read(iMaxPages, b), read(iOutstanding, b), read(iShrPages, b), read(iPagedPages, b),
                read(iSharedInfoFrame, b), read(iCpuTime, b), (int) read(iOnlineVcpus, b),
                (int) read(iMaxVcpuId, b), read(iSsidref, b),
                Arrays.copyOfRange(b, handleOffset, handleOffset + 16), (int) read(iCpupool, b),
                iGpaddrBits != null ? (int) read(iGpaddrBits, b) : 0, read(iEmulationFlags, b),
                iMiscFlags != null ? read(iMiscFlags, b) : 0);
        if (info.domid() != domid) {
            throw new IllegalStateException("no such domain " + domid);
        }
        return info;
    }

    /** A getdomaininfo leaf, at {@link #base} in the domctl image. */
    private long read(Leaf leaf, byte[] b) {
        return fastLeaves ? fastRead(leaf, b, base) : leaf.read(b, base);
    }

    /** A domctl header leaf (base 0). */
    private void write(Leaf leaf, byte[] b, long value) {
        if (fastLeaves) {
            fastWrite(leaf, b, 0, value);
        } else {
            leaf.write(b, 0, value);
        }
    }

    /** The bits {@link Leaf#read} returns, read in one access for a whole 1/2/4/8-byte leaf. */
    static long fastRead(Leaf leaf, byte[] b, int base) {
        if (leaf.isBitfield()) {
            return leaf.read(b, base);
        }
        int at = base + leaf.offset();
        switch (leaf.size()) {
            case 1:
                return b[at] & 0xffL;
            case 2:
                return (short) I16.get(b, at) & 0xffffL;
            case 4:
                return (int) I32.get(b, at) & 0xffffffffL;
            case 8:
                return (long) I64.get(b, at);
            default:
                return leaf.read(b, base);
        }
    }

    /** The bytes {@link Leaf#write} stores, written in one access for a whole 1/2/4/8-byte leaf. */
    static void fastWrite(Leaf leaf, byte[] b, int base, long value) {
        if (leaf.isBitfield()) {
            leaf.write(b, base, value);
            return;
        }
        int at = base + leaf.offset();
        switch (leaf.size()) {
            case 1:
                b[at] = (byte) value;
                break;
            case 2:
                I16.set(b, at, (short) value);
                break;
            case 4:
                I32.set(b, at, (int) value);
                break;
            case 8:
                I64.set(b, at, value);
                break;
            default:
                leaf.write(b, base, value);
        }
    }

    /**
     * Checks {@link #fastRead}/{@link #fastWrite} against {@link Leaf#read}/{@link Leaf#write} for
     * every leaf of {@code layout}, on random bytes and values; throws on the first difference.
     */
    static void checkFastLeaves(StructLayout layout, long seed) {
        java.util.Random random = new java.util.Random(seed);
        for (int round = 0; round < 64; round++) {
            byte[] bytes = new byte[layout.size() + 8];
            random.nextBytes(bytes);
            int base = random.nextInt(8);
            for (Leaf leaf : layout.leaves()) {
                if (fastRead(leaf, bytes, base) != leaf.read(bytes, base)) {
                    throw new IllegalStateException("fastRead differs for " + layout.name() + "." + leaf.path());
                }
                long value = random.nextLong();
                byte[] a = bytes.clone();
                byte[] c = bytes.clone();
                fastWrite(leaf, a, base, value);
                leaf.write(c, base, value);
                if (!Arrays.equals(a, c)) {
                    throw new IllegalStateException("fastWrite differs for " + layout.name() + "." + leaf.path());
                }
            }
        }
    }

    void close() {
        buffer.close();
    }
}
