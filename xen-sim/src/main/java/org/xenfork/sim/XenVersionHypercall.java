package org.xenfork.sim;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Field;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.privcmd.Linux;

/**
 * {@code __HYPERVISOR_xen_version} (17) as {@code do_xen_version} in
 * xen/common/kernel.c answers a privileged PV dom0: the sub-ops of xen/include/public/version.h,
 * the variable-length {@code *2} ones from 4.20, and ENOSYS for any other.
 */
final class XenVersionHypercall {
    /** XENVER_capabilities of an x86-64 Xen with HVM (xl info's xen_caps on Debian's Xen 4.17.7 in the rig). */
    static final String CAPABILITIES = "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64";
    /**
     * XENVER_platform_parameters for a 64-bit PV caller: HYPERVISOR_VIRT_START (what the rig's
     * rig/oracle/xenver.c printed on Debian's Xen 4.17.7).
     */
    private static final long HYPERVISOR_VIRT_START = 0xffff_8000_0000_0000L;
    /**
     * XENVER_get_features submap 0 as a real Xen 4.17 reports it to a PV dom0
     * (printed there by the same probe); the XENFEAT_* bits are not modelled one by one.
     */
    private static final long DOM0_FEATURES_SUBMAP0 = 0x228f0;

    private final XenRelease release;
    private final Host host;
    private final DomainTable domains;
    private final long version;
    private final long extraversion;
    private final long compileInfo;
    private final long capabilities;
    private final long changeset;
    private final long platformParameters;
    private final long getFeatures;
    private final long pagesize;
    private final long guestHandle;
    private final long commandline;
    private final long buildId;
    private final Long extraversion2;
    private final Long capabilities2;
    private final Long changeset2;
    private final Long commandline2;
    private final int extraversionSize;
    private final int capabilitiesSize;
    private final int changesetSize;
    private final int commandlineSize;
    private final int handleSize;
    private final StructLayout compileInfoLayout;
    private final int featureInfoSize;
    private final Leaf featureIdx;
    private final Leaf featureSubmap;
    private final int platformParametersSize;
    private final Leaf virtStart;
    private final StructLayout varbuf;
    private final Leaf varbufLen;
    private final int varbufBuf;
    private final byte[] buildIdBytes;

    XenVersionHypercall(Abi abi, Host host, DomainTable domains) {
        this.release = abi.release();
        this.host = host;
        this.domains = domains;
        this.version = abi.constant("XENVER_version");
        this.extraversion = abi.constant("XENVER_extraversion");
        this.compileInfo = abi.constant("XENVER_compile_info");
        this.capabilities = abi.constant("XENVER_capabilities");
        this.changeset = abi.constant("XENVER_changeset");
        this.platformParameters = abi.constant("XENVER_platform_parameters");
        this.getFeatures = abi.constant("XENVER_get_features");
        this.pagesize = abi.constant("XENVER_pagesize");
        this.guestHandle = abi.constant("XENVER_guest_handle");
        this.commandline = abi.constant("XENVER_commandline");
        this.buildId = abi.constant("XENVER_build_id");
        this.extraversion2 = abi.findConstant("XENVER_extraversion2").orElse(null);
        this.capabilities2 = abi.findConstant("XENVER_capabilities2").orElse(null);
        this.changeset2 = abi.findConstant("XENVER_changeset2").orElse(null);
        this.commandline2 = abi.findConstant("XENVER_commandline2").orElse(null);
        this.extraversionSize = typedef(abi, "xen_extraversion_t");
        this.capabilitiesSize = typedef(abi, "xen_capabilities_info_t");
        this.changesetSize = typedef(abi, "xen_changeset_info_t");
        this.commandlineSize = typedef(abi, "xen_commandline_t");
        this.handleSize = typedef(abi, "xen_domain_handle_t");
        this.compileInfoLayout = abi.struct("xen_compile_info");
        StructLayout fi = abi.struct("xen_feature_info");
        this.featureInfoSize = fi.size();
        this.featureIdx = fi.leaf("submap_idx");
        this.featureSubmap = fi.leaf("submap");
        StructLayout pp = abi.struct("xen_platform_parameters");
        this.platformParametersSize = pp.size();
        this.virtStart = pp.leaf("virt_start");
        // Before 4.20 XENVER_build_id takes a struct xen_build_id; from 4.20 every
        // variable-length sub-op takes the identically shaped struct xen_varbuf.
        this.varbuf = abi.struct(extraversion2 != null ? "xen_varbuf" : "xen_build_id");
        this.varbufLen = varbuf.leaf("len");
        this.varbufBuf = varbuf.field("buf").orElseThrow().offset();
        this.buildIdBytes = sha1("xenfork simulated Xen " + release);
    }

    long call(GuestMemory mem, long cmdArg, long arg) {
        int cmd = (int) cmdArg; // do_xen_version(int cmd, ...)
        if (cmd == version) {
            return ((long) release.major() << 16) | release.minor();
        } else if (cmd == extraversion) {
            return copyString(mem, arg, host.extraVersion(), extraversionSize);
        } else if (cmd == compileInfo) {
            byte[] info = new byte[compileInfoLayout.size()];
            put(info, "compiler", "gcc (Debian 12.2.0-14+deb12u1) 12.2.0");
            put(info, "compile_by", "xenfork");
            put(info, "compile_domain", "xen-sim");
            put(info, "compile_date", "simulated");
            mem.copyToGuest(arg, info);
            return 0;
        } else if (cmd == capabilities) {
            return copyString(mem, arg, CAPABILITIES, capabilitiesSize);
        } else if (cmd == changeset) {
            return copyString(mem, arg, "", changesetSize);
        } else if (cmd == platformParameters) {
            byte[] p = new byte[platformParametersSize];
            virtStart.write(p, 0, HYPERVISOR_VIRT_START);
            mem.copyToGuest(arg, p);
            return 0;
        } else if (cmd == getFeatures) {
            byte[] fi = mem.copyFromGuest(arg, featureInfoSize);
            XenError.failIf(featureIdx.read(fi, 0) != 0, Errno.EINVAL);
            featureSubmap.write(fi, 0, DOM0_FEATURES_SUBMAP0);
            mem.copyToGuest(arg, fi);
            return 0;
        } else if (cmd == pagesize) {
            XenError.failIf(arg != 0, Errno.EINVAL);
            return Linux.PAGE_SIZE;
        } else if (cmd == guestHandle) {
            mem.copyToGuest(arg, Arrays.copyOf(domains.caller().handle, handleSize));
            return 0;
        } else if (cmd == commandline) {
            return copyString(mem, arg, host.commandLine(), commandlineSize);
        } else if (cmd == buildId) {
            return extraversion2 != null ? varbuf(mem, arg, buildIdBytes) : legacyBuildId(mem, arg);
        } else if (isVarbufOp(cmd)) {
            return varbuf(mem, arg, varbufText(cmd).getBytes(StandardCharsets.US_ASCII));
        }
        return -Errno.ENOSYS;
    }

    private boolean isVarbufOp(int cmd) {
        return extraversion2 != null
                && (cmd == extraversion2 || cmd == capabilities2 || cmd == changeset2 || cmd == commandline2);
    }

    private String varbufText(int cmd) {
        if (cmd == extraversion2) {
            return host.extraVersion();
        } else if (cmd == capabilities2) {
            return CAPABILITIES;
        } else if (cmd == changeset2) {
            return "";
        }
        return host.commandLine();
    }

    /** xenver_varbuf_op (4.20+): NULL asks the size; a short buffer is ENOBUFS; no NUL is written. */
    private long varbuf(GuestMemory mem, long arg, byte[] value) {
        if (arg == 0) {
            return value.length;
        }
        byte[] head = mem.copyFromGuest(arg, varbufBuf);
        XenError.failIf(value.length > varbufLen.read(head, 0), Errno.ENOBUFS);
        mem.copyToGuest(arg + varbufBuf, value);
        return value.length;
    }

    /** XENVER_build_id before 4.20: as the varbuf form, but a zero {@code len} is EINVAL. */
    private long legacyBuildId(GuestMemory mem, long arg) {
        if (arg != 0) {
            byte[] head = mem.copyFromGuest(arg, varbufBuf);
            XenError.failIf(varbufLen.read(head, 0) == 0, Errno.EINVAL);
        }
        return varbuf(mem, arg, buildIdBytes);
    }

    /** safe_strcpy into a zeroed fixed-size char array, then copy_to_guest of the whole array. */
    private static long copyString(GuestMemory mem, long arg, String value, int size) {
        byte[] out = new byte[size];
        byte[] text = value.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(text, 0, out, 0, Math.min(text.length, size - 1));
        mem.copyToGuest(arg, out);
        return 0;
    }

    private void put(byte[] struct, String field, String value) {
        Field f = compileInfoLayout.field(field).orElseThrow();
        byte[] text = value.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(text, 0, struct, f.offset(), Math.min(text.length, f.size() - 1));
    }

    private static int typedef(Abi abi, String name) {
        return abi.typedefSize(name).orElseThrow(() -> new IllegalStateException("no typedef " + name));
    }

    private static byte[] sha1(String text) {
        try {
            return MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.US_ASCII));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
