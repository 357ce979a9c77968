package org.xenfork.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.Releases;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.NativeException;

/** gethvmcontext, sethvmcontext and gethvmcontext_partial through the seam (xen/arch/x86/domctl.c, hvm/save.c). */
class HvmContextDomctlTest {

    /** One record of a stream, read with the abi's descriptor layout. */
    record Rec(int type, int instance, int offset, int length) {
    }

    static List<Rec> records(SimClient c, byte[] stream) {
        StructLayout d = c.struct("hvm_save_descriptor");
        Leaf type = d.leaf("typecode");
        Leaf inst = d.leaf("instance");
        Leaf len = d.leaf("length");
        List<Rec> out = new ArrayList<>();
        int off = 0;
        while (off + d.size() <= stream.length) {
            Rec r = new Rec((int) type.read(stream, off), (int) inst.read(stream, off), off + d.size(),
                    (int) len.read(stream, off));
            out.add(r);
            off += d.size() + r.length;
            if (r.type == 0) {
                break;
            }
        }
        return out;
    }

    /** gethvmcontext into a buffer of {@code size}; returns the outcome and the bytes. */
    static byte[] getContext(SimClient c, int domid) throws NativeException {
        SimClient.Outcome q = c.domctl("gethvmcontext", domid);
        assertThat(q.ok()).isTrue();
        int size = (int) q.get("u.hvmcontext.size");
        long buf = c.buffer(size);
        SimClient.Outcome r = c.domctl("gethvmcontext", domid, Map.of("u.hvmcontext.size", size,
                "u.hvmcontext.buffer", buf));
        assertThat(r.errno()).isZero();
        return c.get(buf, (int) r.get("u.hvmcontext.size"));
    }

    static SimClient.Outcome setContext(SimClient c, int domid, byte[] stream) throws NativeException {
        long buf = c.put(stream);
        return c.domctl("sethvmcontext", domid, Map.of("u.hvmcontext.size", stream.length,
                "u.hvmcontext.buffer", buf));
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void theStreamIsHeaderCpuLapicLapicRegsMtrrEnd(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 2, 4096));
        SimClient.Outcome q = c.domctl("gethvmcontext", g.domid());
        long bound = q.get("u.hvmcontext.size");
        int lapic = c.struct("hvm_hw_lapic").size(); // 24 bytes, 32 from 4.21 (pending_esr)
        assertThat(bound).isEqualTo(2 * 8 + 24 + 2L * ((8 + 1032) + (8 + lapic) + (8 + 1024) + (8 + 240)));

        byte[] stream = getContext(c, g.domid());
        assertThat(stream).hasSize((int) bound); // every handler writes its maximum here
        List<Rec> recs = records(c, stream);
        assertThat(recs).extracting(Rec::type).containsExactly(1, 2, 2, 5, 5, 6, 6, 14, 14, 0);
        assertThat(recs).extracting(Rec::instance).containsExactly(0, 0, 1, 0, 1, 0, 1, 0, 1, 0);
        assertThat(recs).extracting(Rec::length).containsExactly(24, 1032, 1032, lapic, lapic, 1024, 1024,
                240, 240, 0);
        StructLayout hdr = c.struct("hvm_save_header");
        assertThat(hdr.leaf("magic").read(stream, recs.get(0).offset())).isEqualTo(0x54381286L);
        assertThat(hdr.leaf("version").read(stream, recs.get(0).offset())).isEqualTo(1);
        assertThat(hdr.leaf("changeset").read(stream, recs.get(0).offset())).isEqualTo(-1L);
        StructLayout cpu = c.struct("hvm_hw_cpu");
        assertThat(cpu.leaf("rip").read(stream, recs.get(1).offset())).isEqualTo(0xffffffff81a592ebL);
        assertThat(cpu.leaf("cr0").read(stream, recs.get(1).offset())).isEqualTo(0x80050033L);
        StructLayout l = c.struct("hvm_hw_lapic");
        assertThat(l.leaf("apic_base_msr").read(stream, recs.get(3).offset())).isEqualTo(0xfee00d00L);
        assertThat(l.leaf("apic_base_msr").read(stream, recs.get(4).offset())).isEqualTo(0xfee00c00L);
        assertThat(c.xen.hvmContext(g.domid())).isEqualTo(stream);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void gethvmcontextErrors(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 1, 4096));
        SimDomain pv = c.xen.addGuest(GuestSpec.pv("pv", 1, 4096));
        assertThat(c.domctl("gethvmcontext", 0).errno()).isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("gethvmcontext", pv.domid()).errno()).isEqualTo(Errno.EINVAL);
        long bound = c.domctl("gethvmcontext", g.domid()).get("u.hvmcontext.size");
        long buf = c.buffer((int) bound);
        SimClient.Outcome small = c.domctl("gethvmcontext", g.domid(), Map.of("u.hvmcontext.size", bound - 1,
                "u.hvmcontext.buffer", buf));
        assertThat(small.errno()).isEqualTo(Errno.ENOSPC);
        assertThat(small.get("u.hvmcontext.size")).isEqualTo(bound - 1); // copied back on error too
        SimClient.Outcome unmapped = c.domctl("gethvmcontext", g.domid(), Map.of("u.hvmcontext.size", bound,
                "u.hvmcontext.buffer", 0x1000));
        assertThat(unmapped.errno()).isEqualTo(Errno.EFAULT);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void sethvmcontextLoadsAStreamBack(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 1, 4096).paused());
        byte[] stream = getContext(c, g.domid());
        List<Rec> recs = records(c, stream);
        StructLayout cpu = c.struct("hvm_hw_cpu");
        cpu.leaf("rip").write(stream, recs.get(1).offset(), 0x1234);
        assertThat(setContext(c, g.domid(), stream).ok()).isTrue();
        assertThat(cpu.leaf("rip").read(getContext(c, g.domid()), recs.get(1).offset())).isEqualTo(0x1234);
        assertThat(setContext(c, 0, stream).errno()).isEqualTo(Errno.EINVAL);
        SimDomain pv = c.xen.addGuest(GuestSpec.pv("pv", 1, 4096));
        assertThat(setContext(c, pv.domid(), stream).errno()).isEqualTo(Errno.EINVAL);
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void badStreamsAreRefused(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 1, 4096).paused());
        byte[] good = getContext(c, g.domid());
        List<Rec> recs = records(c, good);
        StructLayout hdr = c.struct("hvm_save_header");

        byte[] badMagic = good.clone();
        hdr.leaf("magic").write(badMagic, recs.get(0).offset(), 0x12345678);
        assertThat(setContext(c, g.domid(), badMagic).errno()).isEqualTo(Errno.EINVAL);
        byte[] badVersion = good.clone();
        hdr.leaf("version").write(badVersion, recs.get(0).offset(), 2);
        assertThat(setContext(c, g.domid(), badVersion).errno()).isEqualTo(Errno.EINVAL);
        assertThat(setContext(c, g.domid(), Arrays.copyOf(good, 20)).errno()).isEqualTo(Errno.ENODATA);
        // no END record
        assertThat(setContext(c, g.domid(), Arrays.copyOf(good, good.length - 8)).errno()).isEqualTo(Errno.ENODATA);
        // a typecode without handler
        byte[] unknown = good.clone();
        c.struct("hvm_save_descriptor").leaf("typecode").write(unknown, recs.get(4).offset() - 8, 21); // the MTRR record
        assertThat(setContext(c, g.domid(), unknown).errno()).isEqualTo(Errno.EINVAL);
        // a CPU record for a vCPU the domain does not have
        byte[] noVcpu = good.clone();
        c.struct("hvm_save_descriptor").leaf("instance").write(noVcpu, recs.get(1).offset() - 8, 5);
        assertThat(setContext(c, g.domid(), noVcpu).errno()).isEqualTo(Errno.EINVAL);
        // hvm_hw_cpu.pad0 must be 0
        byte[] pad = good.clone();
        c.struct("hvm_hw_cpu").leaf("pad0").write(pad, recs.get(1).offset(), 1);
        assertThat(setContext(c, g.domid(), pad).errno()).isEqualTo(Errno.EINVAL);
        // an empty buffer has no header
        assertThat(setContext(c, g.domid(), new byte[0]).errno()).isEqualTo(Errno.ENODATA);
    }

    @Test
    void aShortLapicRecordIsZeroExtendedOnA421Hypervisor() throws NativeException {
        SimClient old = SimClient.of("4.20");
        SimDomain src = old.xen.addGuest(GuestSpec.hvm("src", 1, 4096).paused());
        byte[] stream420 = getContext(old, src.domid()); // LAPIC of 24 bytes
        SimClient c = SimClient.of("4.21");
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 1, 4096).paused());
        assertThat(setContext(c, g.domid(), stream420).ok()).isTrue();
        List<Rec> recs = records(c, getContext(c, g.domid()));
        assertThat(recs.get(2).type()).isEqualTo(5);
        assertThat(recs.get(2).length()).isEqualTo(32);
        // the other way round a 32-byte LAPIC is too long for 4.20
        SimDomain g2 = old.xen.addGuest(GuestSpec.hvm("g2", 1, 4096).paused());
        assertThat(setContext(old, g2.domid(), c.xen.hvmContext(g.domid())).errno()).isEqualTo(Errno.EINVAL);
    }

    /**
     * A stream whose second record is bad: up to 4.18 hvm_load applies the
     * first CPU record (and downs the vCPUs) before failing; 4.19's dry run
     * catches a framing error before touching the domain.
     */
    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void aFailedLoadIsPartialUpTo418Only(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 2, 4096).paused());
        byte[] good = getContext(c, g.domid());
        List<Rec> recs = records(c, good);
        StructLayout cpu = c.struct("hvm_hw_cpu");
        byte[] edited = good.clone();
        cpu.leaf("rip").write(edited, recs.get(1).offset(), 0xdead);
        // vCPU 1's CPU record claims more bytes than the stream has left
        c.struct("hvm_save_descriptor").leaf("length").write(edited, recs.get(2).offset() - 8, 1 << 20);
        SimClient.Outcome r = setContext(c, g.domid(), edited);
        boolean dryRun = Releases.withPartialFailedLoad().noneMatch(release::equals); // 4.19 checks first
        assertThat(r.errno()).isEqualTo(dryRun ? Errno.ENODATA : Errno.EINVAL);
        byte[] after = c.xen.hvmContext(g.domid());
        if (dryRun) {
            assertThat(after).isEqualTo(good);
            assertThat(g.onlineVcpus()).isEqualTo(2);
        } else {
            assertThat(cpu.leaf("rip").read(after, records(c, after).get(1).offset())).isEqualTo(0xdead);
            assertThat(g.onlineVcpus()).isEqualTo(1); // vCPU 1 was downed and never brought back
        }
    }

    @ParameterizedTest
    @MethodSource("org.xenfork.abi.Releases#all")
    void partialReturnsOneRecordBodyWithoutDescriptor(String release) throws NativeException {
        SimClient c = SimClient.of(release);
        SimDomain g = c.xen.addGuest(GuestSpec.hvm("g", 2, 4096));
        byte[] stream = c.xen.hvmContext(g.domid());
        Rec cpu1 = records(c, stream).get(2);
        String p = "u.hvmcontext_partial.";
        SimClient.Outcome size = c.domctl("gethvmcontext_partial", g.domid(), Map.of(p + "type", 2,
                p + "instance", 1));
        assertThat(size.ok()).isTrue();
        assertThat(size.get(p + "bufsz")).isEqualTo(1032);
        long buf = c.buffer(2048);
        SimClient.Outcome r = c.domctl("gethvmcontext_partial", g.domid(), Map.of(p + "type", 2,
                p + "instance", 1, p + "bufsz", 2048, p + "buffer", buf));
        assertThat(r.ok()).isTrue();
        assertThat(r.get(p + "bufsz")).isEqualTo(1032);
        assertThat(c.get(buf, 1032)).isEqualTo(Arrays.copyOfRange(stream, cpu1.offset(), cpu1.offset() + 1032));

        SimClient.Outcome small = c.domctl("gethvmcontext_partial", g.domid(), Map.of(p + "type", 2,
                p + "instance", 1, p + "bufsz", 1031, p + "buffer", buf));
        assertThat(small.errno()).isEqualTo(Errno.ENOBUFS);
        assertThat(c.domctl("gethvmcontext_partial", g.domid(), Map.of(p + "type", 21)).errno())
                .isEqualTo(Errno.EINVAL);
        assertThat(c.domctl("gethvmcontext_partial", g.domid(), Map.of(p + "type", 1)).errno())
                .isEqualTo(Errno.EINVAL); // HEADER has no handler
        assertThat(c.domctl("gethvmcontext_partial", g.domid(), Map.of(p + "type", 2, p + "instance", 2))
                .errno()).isEqualTo(Errno.ENOENT);
        assertThat(c.domctl("gethvmcontext_partial", 0, Map.of(p + "type", 2)).errno()).isEqualTo(Errno.EINVAL);
    }

    @Test
    void partialOfAVcpuThatIsDownIsEnodata() throws NativeException {
        SimClient c = SimClient.of("4.18");
        int domid = c.newForkChild(1); // vCPU made by max_vcpus, never brought up
        String p = "u.hvmcontext_partial.";
        assertThat(c.domctl("gethvmcontext_partial", domid, Map.of(p + "type", 2)).errno())
                .isEqualTo(Errno.ENODATA);
        // its LAPIC exists (vlapic_init), so that record is there
        assertThat(c.domctl("gethvmcontext_partial", domid, Map.of(p + "type", 5)).ok()).isTrue();
        // the whole context of that domain has no CPU record
        assertThat(records(c, getContext(c, domid))).extracting(Rec::type).containsExactly(1, 5, 6, 14, 0);
    }
}
