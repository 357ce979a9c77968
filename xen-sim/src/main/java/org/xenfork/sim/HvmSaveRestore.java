package org.xenfork.sim;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import org.xenfork.abi.Abi;
import org.xenfork.abi.HvmSaveType;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * Xen's HVM save/restore ({@code xen/arch/x86/hvm/save.c}) over the records
 * the release's ABI declares: HEADER, then the per-vCPU CPU, LAPIC,
 * LAPIC_REGS and MTRR records, then END. Every field is reached through the
 * abi layouts ({@code hvm_save_descriptor}, {@code hvm_save_header},
 * {@code hvm_hw_cpu}, …), so a 4.21 LAPIC record is 32 bytes and a 4.20 one 24.
 *
 * <p>Only those record types ({@link #MODELLED}) have a handler here, although
 * the ABI declares every type. Any other typecode (PIC, IOAPIC, PIT, …, which
 * real Xen also saves) is "unknown" to this hypervisor: loading it or asking
 * for it alone is {@code EINVAL}, as for a typecode without a handler in Xen.
 *
 * <p>Load follows each release: up to 4.18 {@code hvm_load} runs once and
 * applies records as it reads them, so a bad record leaves the earlier ones
 * (and every vCPU downed) in place; from 4.19 a dry run first checks the
 * framing, header and typecodes without touching the domain. The per-record
 * checks modelled are those of the load handlers: instance names an existing
 * vCPU, length (zero-extension for CPU and LAPIC, exact otherwise), CPU
 * {@code pad0} and {@code flags}, and a LAPIC only for a domain that emulates
 * one. Register values are not validated (CR0/CR4/EFER checks are not modelled).
 */
final class HvmSaveRestore {
    /** {@code HVM_SAVE_CODE(END)}: public/hvm/save.h gives the terminator code 0 and an empty body. */
    private static final int END = 0;
    /** The record types with a handler here: a guest's per-vCPU state (see the class comment). */
    private static final Set<String> MODELLED = Set.of("CPU", "LAPIC", "LAPIC_REGS", "MTRR");
    /** Loaded with {@code hvm_load_entry_zeroextend}: shorter records are accepted (hvm.c, vlapic.c). */
    private static final Set<String> ZERO_EXTENDED = Set.of("CPU", "LAPIC");
    /** Their load handlers return -ENODEV unless the domain emulates a local APIC (vlapic.c). */
    private static final Set<String> NEED_VLAPIC = Set.of("LAPIC", "LAPIC_REGS");

    /* Local APIC base MSR bits (Intel SDM vol. 3, IA32_APIC_BASE; Xen's apicdef.h). */
    private static final long APIC_DEFAULT_PHYS_BASE = 0xfee0_0000L;
    private static final long APIC_BASE_BSP = 0x100;
    private static final long APIC_BASE_EXTD = 0x400;
    private static final long APIC_BASE_ENABLE = 0x800;

    private final boolean checkBeforeLoad;
    private final int descriptorSize;
    private final Leaf descTypecode;
    private final Leaf descInstance;
    private final Leaf descLength;
    private final HvmSaveType header;
    private final Leaf hdrMagic;
    private final Leaf hdrVersion;
    private final Leaf hdrChangeset;
    private final Leaf hdrCpuid;
    private final Leaf hdrGtscKhz;
    private final long fileMagic;
    private final long fileVersion;
    private final long codeMax;
    private final long emuLapic;
    /** {@code XEN_X86_FPU_INITIALISED}, the only defined bit of {@code hvm_hw_cpu.flags}. */
    private final long fpuInitialised;
    /** The record types with a handler, by typecode (all per-vCPU). */
    private final Map<Integer, HvmSaveType> handlers = new TreeMap<>();
    private final HvmSaveType cpu;
    private final HvmSaveType lapic;
    private final HvmSaveType lapicRegs;
    private final HvmSaveType mtrr;
    private final CpuLeaves cpuLeaves;
    private final Leaf apicBaseMsr;
    private final Leaf timerDivisor;
    private final Leaf mtrrPat;
    private final Leaf mtrrCap;
    private final Leaf mtrrDefType;

    /** The {@code hvm_hw_cpu} fields the simulator writes or checks, resolved once. */
    private record CpuLeaves(Leaf pad0, Leaf flags, Leaf rax, Leaf rbp, Leaf rsp, Leaf rip, Leaf rflags, Leaf cr0,
                             Leaf cr3, Leaf cr4, Leaf dr6, Leaf dr7, Leaf csSel, Leaf ssSel, Leaf csLimit,
                             Leaf csArbytes, Leaf sysenterCs, Leaf lstar, Leaf star, Leaf syscallMask, Leaf efer,
                             Leaf tsc) {
        static CpuLeaves of(StructLayout s) {
            return new CpuLeaves(s.leaf("pad0"), s.leaf("flags"), s.leaf("rax"), s.leaf("rbp"), s.leaf("rsp"),
                    s.leaf("rip"), s.leaf("rflags"), s.leaf("cr0"), s.leaf("cr3"), s.leaf("cr4"), s.leaf("dr6"),
                    s.leaf("dr7"), s.leaf("cs_sel"), s.leaf("ss_sel"), s.leaf("cs_limit"), s.leaf("cs_arbytes"),
                    s.leaf("sysenter_cs"), s.leaf("msr_lstar"), s.leaf("msr_star"), s.leaf("msr_syscall_mask"),
                    s.leaf("msr_efer"), s.leaf("tsc"));
        }
    }

    private record Descriptor(int typecode, int instance, long length) {
    }

    HvmSaveRestore(Abi abi) {
        this.checkBeforeLoad = abi.release().atLeast(4, 19);
        StructLayout desc = abi.struct("hvm_save_descriptor");
        this.descriptorSize = desc.size();
        this.descTypecode = desc.leaf("typecode");
        this.descInstance = desc.leaf("instance");
        this.descLength = desc.leaf("length");
        HvmSaveType hdr = null;
        for (HvmSaveType t : abi.hvmSaveTypes()) {
            if (t.name().equals("HEADER")) {
                hdr = t;
            } else if (MODELLED.contains(t.name())) {
                handlers.put(t.code(), t);
            }
        }
        this.header = require(hdr, "HEADER");
        StructLayout h = header.struct();
        this.hdrMagic = h.leaf("magic");
        this.hdrVersion = h.leaf("version");
        this.hdrChangeset = h.leaf("changeset");
        this.hdrCpuid = h.leaf("cpuid");
        this.hdrGtscKhz = h.leaf("gtsc_khz");
        this.fileMagic = abi.constant("HVM_FILE_MAGIC");
        this.fileVersion = abi.constant("HVM_FILE_VERSION");
        this.codeMax = abi.constant("HVM_SAVE_CODE_MAX");
        this.emuLapic = abi.constant("XEN_X86_EMU_LAPIC");
        this.fpuInitialised = abi.constant("XEN_X86_FPU_INITIALISED");
        this.cpu = require(byName("CPU"), "CPU");
        this.lapic = require(byName("LAPIC"), "LAPIC");
        this.lapicRegs = require(byName("LAPIC_REGS"), "LAPIC_REGS");
        this.mtrr = require(byName("MTRR"), "MTRR");
        this.cpuLeaves = CpuLeaves.of(cpu.struct());
        this.apicBaseMsr = lapic.struct().leaf("apic_base_msr");
        this.timerDivisor = lapic.struct().leaf("timer_divisor");
        this.mtrrPat = mtrr.struct().leaf("msr_pat_cr");
        this.mtrrCap = mtrr.struct().leaf("msr_mtrr_cap");
        this.mtrrDefType = mtrr.struct().leaf("msr_mtrr_def_type");
    }

    /**
     * {@code hvm_save_size}: the buffer {@code gethvmcontext} demands, the sum of
     * every handler's maximum (descriptor included) per vCPU, plus HEADER and
     * two descriptors (HEADER's and END's).
     */
    long saveSize(SimDomain d) {
        long size = 2L * descriptorSize + header.length();
        for (HvmSaveType t : handlers.values()) {
            size += (long) (descriptorSize + t.length()) * d.allocatedVcpus;
        }
        return size;
    }

    /**
     * {@code hvm_save}: HEADER, the records in typecode then vCPU order (no CPU
     * record for a vCPU that is down), END. {@code EINVAL} for a dying domain.
     */
    byte[] save(SimDomain d, Host host) {
        XenError.failIf(!d.isAlive(), Errno.EINVAL);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] hdr = new byte[header.length()];
        hdrMagic.write(hdr, 0, fileMagic);
        hdrVersion.write(hdr, 0, fileVersion);
        // hvm_save takes the number after the last ':' of the changeset string; the
        // simulator's is empty, like Debian's stock build, which gives -1 ("unknown").
        hdrChangeset.write(hdr, 0, -1L);
        hdrCpuid.write(hdr, 0, host.cpuidLeaf1Eax());
        hdrGtscKhz.write(hdr, 0, d.tscKhz);
        writeEntry(out, header.code(), 0, hdr);
        d.hvmRecords.forEach((key, body) -> {
            if (isSaved(d, key)) {
                writeEntry(out, key.typecode(), key.instance(), body);
            }
        });
        writeEntry(out, END, 0, new byte[0]);
        return out.toByteArray();
    }

    /**
     * {@code hvm_save_one}: the body (no descriptor) of one record. EINVAL for a
     * dying domain or a typecode without handler; ENOENT for an instance that is
     * not an existing vCPU; ENODATA when the handler writes nothing for it (the
     * CPU record of a vCPU that is down).
     */
    byte[] saveOne(SimDomain d, long typecode, long instance) {
        HvmSaveType t = typecode <= codeMax ? handlers.get((int) typecode) : null;
        XenError.failIf(!d.isAlive() || t == null, Errno.EINVAL);
        XenError.failIf(instance >= d.maxVcpus || instance >= d.allocatedVcpus, Errno.ENOENT);
        SimDomain.RecordKey key = new SimDomain.RecordKey(t.code(), (int) instance);
        byte[] body = d.hvmRecords.get(key);
        XenError.failIf(body == null || !isSaved(d, key), Errno.ENODATA);
        return body.clone();
    }

    /**
     * {@code hvm_load} as the release runs it (see the class comment). Errors:
     * ENODATA for a missing or malformed HEADER or a stream that ends without
     * END; EINVAL for a bad magic or version, an unknown typecode or a record
     * its handler refuses; ENODEV for a LAPIC record in a domain without one.
     */
    void load(SimDomain d, byte[] stream) {
        XenError.failIf(!d.isAlive(), Errno.EINVAL);
        if (checkBeforeLoad) {
            walk(d, stream, false);
        }
        walk(d, stream, true);
    }

    /**
     * vcpu_create: the records a new vCPU has before it first runs (it is
     * down, so it has no CPU record yet). LAPIC and MTRR values as a real Xen
     * reports them (test-fixtures' hvm-samples/hvmctx-pvh.txt); the APIC register
     * page is left zero.
     */
    void createVcpu(SimDomain d, int vcpu) {
        if (hasVlapic(d)) {
            byte[] l = new byte[lapic.length()];
            apicBaseMsr.write(l, 0, apicBase(vcpu) | APIC_BASE_ENABLE);
            timerDivisor.write(l, 0, 2);
            d.hvmRecords.put(new SimDomain.RecordKey(lapic.code(), vcpu), l);
            d.hvmRecords.put(new SimDomain.RecordKey(lapicRegs.code(), vcpu), new byte[lapicRegs.length()]);
        }
        byte[] m = new byte[mtrr.length()];
        mtrrPat.write(m, 0, 0x0007_0406_0007_0406L);
        mtrrCap.write(m, 0, 0x508);
        d.hvmRecords.put(new SimDomain.RecordKey(mtrr.code(), vcpu), m);
    }

    /**
     * A vCPU (made by {@link #createVcpu}) of a guest that has booted: online,
     * with the registers of a Linux kernel idling in its halt loop. The values
     * are those a real Xen 4.17 reported for a PVH guest
     * (test-fixtures' hvm-samples/hvmctx-pvh.txt).
     */
    void bootVcpu(SimDomain d, int vcpu) {
        byte[] c = new byte[cpu.length()];
        CpuLeaves r = cpuLeaves;
        r.rax().write(c, 0, 0xffff_ffff_81a5_9180L);
        r.rbp().write(c, 0, 0xffff_ffff_82a1_aa40L);
        r.rsp().write(c, 0, 0xffff_ffff_82a0_3e98L);
        r.rip().write(c, 0, 0xffff_ffff_81a5_92ebL);
        r.rflags().write(c, 0, 0x216);
        r.cr0().write(c, 0, 0x8005_0033L);
        r.cr3().write(c, 0, 0x569_4000L);
        r.cr4().write(c, 0, 0x5_06f0L);
        r.dr6().write(c, 0, 0xffff_0ff0L);
        r.dr7().write(c, 0, 0x400);
        r.csSel().write(c, 0, 0x10);
        r.ssSel().write(c, 0, 0x18);
        r.csLimit().write(c, 0, 0xffff_ffffL);
        r.csArbytes().write(c, 0, 0xa9b);
        r.sysenterCs().write(c, 0, 0x10);
        r.lstar().write(c, 0, 0xffff_ffff_81c0_0080L);
        r.star().write(c, 0, 0x0023_0010_0000_0000L);
        r.syscallMask().write(c, 0, 0x25_7fd5L);
        r.efer().write(c, 0, 0xd01);
        r.tsc().write(c, 0, 0x4_fa70_6abcL);
        d.hvmRecords.put(new SimDomain.RecordKey(cpu.code(), vcpu), c);
        if (hasVlapic(d)) {
            // The kernel switched its local APIC to x2APIC mode.
            apicBaseMsr.write(d.hvmRecords.get(new SimDomain.RecordKey(lapic.code(), vcpu)), 0,
                    apicBase(vcpu) | APIC_BASE_ENABLE | APIC_BASE_EXTD);
        }
        mtrrDefType.write(d.hvmRecords.get(new SimDomain.RecordKey(mtrr.code(), vcpu)), 0, 0x806);
        d.onlineVcpus.set(vcpu);
    }

    /** The {@code hvm_hw_cpu} layout of this release (what {@link #cpuRecord} holds). */
    StructLayout cpuStruct() {
        return cpu.struct();
    }

    /**
     * vCPU {@code vcpu}'s {@code hvm_hw_cpu} record as held (not a copy: writing it changes the
     * vCPU's registers, as {@code vm_event_set_registers} does), or null if it has none.
     */
    byte[] cpuRecord(SimDomain d, int vcpu) {
        return d.hvmRecords.get(new SimDomain.RecordKey(cpu.code(), vcpu));
    }

    /** One pass of hvm_load: {@code real} false is 4.19's dry run, which checks framing only. */
    private void walk(SimDomain d, byte[] h, boolean real) {
        Descriptor first = descriptorAt(h, 0);
        boolean headerOk = first != null && first.typecode == header.code() && first.length == header.length()
                && h.length - descriptorSize >= header.length();
        XenError.failIf(!headerOk, Errno.ENODATA);
        byte[] hdr = Arrays.copyOfRange(h, descriptorSize, descriptorSize + header.length());
        // arch_hvm_load / arch_hvm_check: a CPUID mismatch is only logged.
        XenError.failIf(hdrMagic.read(hdr, 0) != fileMagic, Errno.EINVAL);
        XenError.failIf(hdrVersion.read(hdr, 0) != fileVersion, Errno.EINVAL);
        int cur = descriptorSize + header.length();
        if (real) {
            // "Down all the vcpus: we only re-enable the ones that had state saved."
            d.onlineVcpus.clear();
            long gtscKhz = hdrGtscKhz.read(hdr, 0);
            if (gtscKhz != 0) {
                d.tscKhz = (int) gtscKhz;
            }
        }
        while (true) {
            XenError.failIf(h.length - cur < descriptorSize, Errno.ENODATA);
            Descriptor desc = descriptorAt(h, cur);
            if (desc.typecode == END) {
                return;
            }
            HvmSaveType t = desc.typecode <= codeMax ? handlers.get(desc.typecode) : null;
            XenError.failIf(t == null, Errno.EINVAL);
            if (real) {
                loadRecord(d, t, desc, h, cur);
            } else {
                XenError.failIf(desc.length > h.length - cur - descriptorSize, Errno.ENODATA);
            }
            cur += descriptorSize + (int) desc.length;
        }
    }

    /** One load handler: hvm_load_cpu_ctxt, lapic_load_hidden/regs or hvm_load_mtrr_msr, in their order of checks. */
    private void loadRecord(SimDomain d, HvmSaveType t, Descriptor desc, byte[] h, int cur) {
        XenError.failIf(NEED_VLAPIC.contains(t.name()) && !hasVlapic(d), Errno.ENODEV);
        XenError.failIf(desc.instance >= d.maxVcpus || desc.instance >= d.allocatedVcpus, Errno.EINVAL);
        boolean fits = desc.length <= h.length - cur - descriptorSize;
        boolean lengthOk = ZERO_EXTENDED.contains(t.name()) ? desc.length <= t.length() : desc.length == t.length();
        XenError.failIf(!fits || !lengthOk, Errno.EINVAL);
        int start = cur + descriptorSize;
        byte[] body = Arrays.copyOf(Arrays.copyOfRange(h, start, start + (int) desc.length), t.length());
        if (t == cpu) {
            XenError.failIf(cpuLeaves.pad0().read(body, 0) != 0, Errno.EINVAL);
            XenError.failIf((cpuLeaves.flags().read(body, 0) & ~fpuInitialised) != 0, Errno.EINVAL);
            d.onlineVcpus.set(desc.instance);
        }
        d.hvmRecords.put(new SimDomain.RecordKey(t.code(), desc.instance), body);
    }

    /** hvm_save_cpu_ctxt writes nothing for a vCPU that is down; every other handler always writes. */
    private boolean isSaved(SimDomain d, SimDomain.RecordKey key) {
        return key.typecode() != cpu.code() || d.onlineVcpus.get(key.instance());
    }

    private boolean hasVlapic(SimDomain d) {
        return (d.emulationFlags & emuLapic) != 0;
    }

    private Descriptor descriptorAt(byte[] h, int offset) {
        if (h.length - offset < descriptorSize) {
            return null;
        }
        return new Descriptor((int) descTypecode.read(h, offset), (int) descInstance.read(h, offset),
                descLength.read(h, offset));
    }

    private void writeEntry(ByteArrayOutputStream out, int typecode, int instance, byte[] body) {
        byte[] d = new byte[descriptorSize];
        descTypecode.write(d, 0, typecode);
        descInstance.write(d, 0, instance);
        descLength.write(d, 0, body.length);
        out.writeBytes(d);
        out.writeBytes(body);
    }

    private HvmSaveType byName(String name) {
        return handlers.values().stream().filter(t -> t.name().equals(name)).findFirst().orElse(null);
    }

    private static HvmSaveType require(HvmSaveType t, String name) {
        if (t == null) {
            throw new IllegalStateException("the release ABI declares no " + name + " save record");
        }
        return t;
    }

    private static long apicBase(int vcpu) {
        return APIC_DEFAULT_PHYS_BASE | (vcpu == 0 ? APIC_BASE_BSP : 0);
    }
}
