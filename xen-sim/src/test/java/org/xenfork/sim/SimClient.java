package org.xenfork.sim;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import org.xenfork.abi.Abi;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Linux;
import org.xenfork.privcmd.NativeException;

/**
 * What privcmd does, done by hand in tests: open the two devices, mmap
 * hypercall buffers, write structs encoded with the abi's {@link StructCodec},
 * issue IOCTL_PRIVCMD_HYPERCALL and read the structs back. Only the
 * {@link org.xenfork.privcmd.NativeSeam} interface is used.
 */
final class SimClient {
    static final int PAGE = Linux.PAGE_SIZE;

    final SimXen xen;
    final SimulatedSeam seam;
    final Abi abi;
    final int privcmd;
    final int bufFd;

    /** The outcome of one hypercall: ioctl's value or the errno, and the argument struct afterwards. */
    record Outcome(int rc, int errno, Map<String, Long> out, byte[] bytes) {
        long get(String path) {
            Long v = out.get(path);
            if (v == null) {
                throw new IllegalArgumentException("no " + path + " in " + out.keySet());
            }
            return v;
        }

        boolean ok() {
            return errno == 0;
        }
    }

    SimClient(SimXen xen) throws NativeException {
        this.xen = xen;
        this.seam = new SimulatedSeam(xen);
        this.abi = Abi.forRelease(xen.release());
        this.privcmd = seam.open(Linux.PRIVCMD_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
        this.bufFd = seam.open(Linux.HYPERCALL_DEVICE, Linux.O_RDWR | Linux.O_CLOEXEC);
    }

    static SimClient of(String release) throws NativeException {
        return new SimClient(SimXen.create(XenRelease.parse(release)));
    }

    long constant(String name) {
        return abi.constant(name);
    }

    StructLayout struct(String name) {
        return abi.struct(name);
    }

    /** A zeroed, hypercall-safe buffer of whole pages from /dev/xen/hypercall. */
    long buffer(int bytes) throws NativeException {
        return seam.mmap(bytes, Linux.PROT_READ | Linux.PROT_WRITE, Linux.MAP_SHARED, bufFd, 0);
    }

    long put(byte[] bytes) throws NativeException {
        long address = buffer(Math.max(bytes.length, 1));
        seam.write(address, bytes, 0, bytes.length);
        return address;
    }

    byte[] get(long address, int length) {
        byte[] out = new byte[length];
        seam.read(address, out, 0, length);
        return out;
    }

    /** Issues one hypercall through the ioctl: its (non-negative) int result, or -errno of the NativeException. */
    long hypercall(long op, long... args) throws NativeException {
        Map<String, String> f = new LinkedHashMap<>();
        f.put("op", Long.toString(op));
        for (int i = 0; i < args.length; i++) {
            f.put("arg[" + i + "]", Long.toUnsignedString(args[i]));
        }
        long hc = put(StructCodec.encode(struct("privcmd_hypercall"), f));
        try {
            int rc = seam.ioctl(privcmd, Linux.IOCTL_PRIVCMD_HYPERCALL, hc);
            if (rc < 0) {
                // Linux reports [-4095, -1] as -1/errno; no simulated call returns anything lower.
                throw new AssertionError("ioctl returned " + rc + " instead of failing with an errno");
            }
            return rc;
        } catch (NativeException e) {
            return -e.errno();
        } finally {
            seam.munmap(hc, PAGE);
        }
    }

    /**
     * Encodes {@code struct} from path/value pairs into a hypercall buffer,
     * calls hypercall {@code op} with {@code (leading args..., buffer)} and
     * decodes the struct afterwards.
     */
    Outcome call(String hypercall, String struct, Map<String, ?> fields, long... leadingArgs) throws NativeException {
        StructLayout layout = struct(struct);
        byte[] in = StructCodec.encode(layout, strings(fields));
        long address = put(in);
        long[] args = new long[leadingArgs.length + 1];
        System.arraycopy(leadingArgs, 0, args, 0, leadingArgs.length);
        args[leadingArgs.length] = address;
        long rc = hypercall(constant("__HYPERVISOR_" + hypercall), args);
        byte[] after = get(address, layout.size());
        seam.munmap(address, layout.size());
        return new Outcome(rc < 0 ? -1 : (int) rc, rc < 0 ? (int) -rc : 0,
                StructCodec.decode(layout, after, Optional.empty()), after);
    }

    /** A domctl with the release's interface version unless {@code fields} sets one. */
    Outcome domctl(String cmd, long domain, Map<String, ?> fields) throws NativeException {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("cmd", constant("XEN_DOMCTL_" + cmd));
        f.put("interface_version", constant("XEN_DOMCTL_INTERFACE_VERSION"));
        f.put("domain", domain);
        f.putAll(fields);
        return call("domctl", "xen_domctl", f);
    }

    Outcome domctl(String cmd, long domain) throws NativeException {
        return domctl(cmd, domain, Map.of());
    }

    Outcome sysctl(String cmd, Map<String, ?> fields) throws NativeException {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("cmd", constant("XEN_SYSCTL_" + cmd));
        f.put("interface_version", constant("XEN_SYSCTL_INTERFACE_VERSION"));
        f.putAll(fields);
        return call("sysctl", "xen_sysctl", f);
    }

    /** memory_op(XENMEM_sharing_op, &mso), directly (as libxc ≤ 4.15 does). */
    Outcome sharingOp(String op, long child, Map<String, ?> fields) throws NativeException {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("op", constant("XENMEM_sharing_op_" + op));
        f.put("domain", child);
        f.putAll(fields);
        return call("memory_op", "xen_mem_sharing_op", f, constant("XENMEM_sharing_op"));
    }

    Outcome fork(long child, long parent, long flags) throws NativeException {
        return sharingOp("fork", child, Map.of("u.fork.parent_domain", parent, "u.fork.flags", flags));
    }

    Outcome forkReset(long child, long flags) throws NativeException {
        return sharingOp("fork_reset", child, Map.of("u.fork.flags", flags));
    }

    /**
     * createdomain of an HVM guest the way KF/x builds it (src/forkvm.c): hvm, hap,
     * oos_off, emulation ALL & ~VPCI, grant_opts 2 where the release has it.
     */
    Outcome createHvm(long domid, int vcpus, Map<String, ?> overrides) throws NativeException {
        Map<String, Object> f = new LinkedHashMap<>();
        String p = "u.createdomain.";
        f.put(p + "flags", constant("XEN_DOMCTL_CDF_hvm") | constant("XEN_DOMCTL_CDF_hap")
                | constant("XEN_DOMCTL_CDF_oos_off"));
        f.put(p + "max_vcpus", vcpus);
        f.put(p + "max_evtchn_port", 1023);
        f.put(p + "max_grant_frames", 32);
        f.put(p + "max_maptrack_frames", 1024);
        if (struct("xen_domctl").field(p + "grant_opts").isPresent()) {
            f.put(p + "grant_opts", 2);
        }
        f.put(p + "arch.emulation_flags", constant("XEN_X86_EMU_ALL") & ~constant("XEN_X86_EMU_VPCI"));
        f.put(p + "ssidref", 11);
        f.putAll(overrides);
        return domctl("createdomain", domid, f);
    }

    /** createdomain + max_vcpus, as a toolstack does before forking into the new domain. */
    int newForkChild(int vcpus) throws NativeException {
        Outcome c = createHvm(0, vcpus, Map.of());
        if (!c.ok()) {
            throw new AssertionError("createdomain failed: errno " + c.errno());
        }
        int domid = (int) c.get("domain");
        Outcome v = domctl("max_vcpus", domid, Map.of("u.max_vcpus.max", vcpus));
        if (!v.ok()) {
            throw new AssertionError("max_vcpus failed: errno " + v.errno());
        }
        return domid;
    }

    private static Map<String, String> strings(Map<String, ?> fields) {
        Map<String, String> out = new LinkedHashMap<>();
        fields.forEach((k, v) -> out.put(k, v instanceof Long l ? Long.toUnsignedString(l) : String.valueOf(v)));
        return out;
    }
}
