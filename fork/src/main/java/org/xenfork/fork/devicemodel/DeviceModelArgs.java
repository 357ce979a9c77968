package org.xenfork.fork.devicemodel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The QEMU command line for a fork's device model: what libxl 4.17
 * ({@code libxl__build_device_model_args_new}, qemu-xen, no stub domain) builds
 * for an HVM domain restored from a saved device state, for the subset in
 * {@link DeviceModelConfig}. The tests hold it to the command line libxl
 * itself built for the rig's HVM guest.
 *
 * <p>The saved state comes in on QEMU's standard input ({@code -incoming fd:0}),
 * not on a descriptor N as libxl passes it: Java cannot hand a child any
 * descriptor other than 0, 1 and 2 (it closes the rest in the child), which also
 * means no other descriptor of this process can leak into QEMU.
 */
public final class DeviceModelArgs {
    /** QEMU's descriptor for the device state: its standard input. */
    public static final String INCOMING = "fd:0";

    private DeviceModelArgs() {
    }

    /** libxl's QMP socket for the domain: where {@code xl unpause} and {@code xl destroy} talk to the DM. */
    public static Path qmpSocket(Path runDir, int domid) {
        return runDir.resolve("qmp-libxl-" + domid);
    }

    /** libxl's second QMP socket (libxenstat's). */
    public static Path statSocket(Path runDir, int domid) {
        return runDir.resolve("qmp-libxenstat-" + domid);
    }

    /** The argument vector, binary first. */
    public static List<String> build(DeviceModelConfig c, int domid, Path runDir) {
        List<String> a = new ArrayList<>();
        a.add(c.binary().toString());
        a.addAll(List.of("-xen-domid", Integer.toString(domid), "-no-shutdown"));
        monitor(a, "libxl-cmd", qmpSocket(runDir, domid));
        monitor(a, "libxenstat-cmd", statSocket(runDir, domid));
        a.addAll(List.of("-nodefaults", "-no-user-config", "-name", c.name()));
        a.addAll(List.of("-vnc", "none", "-display", "none"));
        for (String s : c.serials()) {
            a.addAll(List.of("-serial", s));
        }
        if (c.nographic()) {
            a.add("-nographic");
        }
        a.addAll(List.of("-boot", "order=" + c.boot()));
        if (c.maxVcpus() > 1) {
            a.addAll(List.of("-smp", c.vcpus() + ",maxcpus=" + c.maxVcpus()));
        }
        a.addAll(List.of("-net", "none"));
        a.addAll(c.extraArgs());
        a.addAll(List.of("-incoming", INCOMING));
        a.addAll(List.of("-machine", c.platformPci() ? "xenfv,suppress-vmdesc=on" : "pc,accel=xen,suppress-vmdesc=on"));
        a.addAll(List.of("-m", Integer.toString(c.memoryMib())));
        for (DeviceModelConfig.Disk d : c.disks()) {
            a.addAll(List.of("-drive", "file=" + d.target() + ",if=ide,index=" + d.ideIndex()
                    + ",media=disk,format=" + d.format() + ",cache=writeback"));
        }
        return List.copyOf(a);
    }

    private static void monitor(List<String> a, String id, Path socket) {
        a.addAll(List.of("-chardev", "socket,id=" + id + ",path=" + socket + ",server=on,wait=off",
                "-mon", "chardev=" + id + ",mode=control"));
    }
}
