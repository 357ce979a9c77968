package org.xenfork.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.LinkedHashMap;
import java.util.Map;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.PhysInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code xenfork info}: the hypervisor and host, in {@code xl info}'s words where they overlap. */
@Command(name = "info", description = "Show the hypervisor's release, capabilities, interface versions and host summary.",
        footer = {"", "Example:", "  xenfork info --json"})
final class InfoCommand implements Runnable {
    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        try (Backend b = Backend.open(root, spec.commandLine().getErr())) {
            Map<String, String> info = collect(b.xen());
            if (root.json) {
                ObjectNode o = AbiCommand.JSON.createObjectNode();
                info.forEach(o::put);
                out.println(o);
            } else {
                info.forEach((k, v) -> out.printf("%-24s: %s%n", k, v));
            }
        }
    }

    static Map<String, String> collect(Hypervisor xen) {
        long word = xen.versionWord();
        String extra = xen.extraversion();
        PhysInfo p = xen.physinfo();
        Map<String, String> m = new LinkedHashMap<>();
        m.put("release", (word >>> 16) + "." + (word & 0xffff) + extra);
        m.put("nr_cpus", String.valueOf(p.nrCpus()));
        m.put("max_cpu_id", String.valueOf(p.maxCpuId()));
        m.put("nr_nodes", String.valueOf(p.nrNodes()));
        m.put("cores_per_socket", String.valueOf(p.coresPerSocket()));
        m.put("threads_per_core", String.valueOf(p.threadsPerCore()));
        m.put("cpu_mhz", String.format("%d.%03d", p.cpuKhz() / 1000, p.cpuKhz() % 1000));
        m.put("virt_caps", p.capabilityNames(xen.abi()));
        m.put("total_memory", String.valueOf(p.totalMemoryMb()));
        m.put("free_memory", String.valueOf(p.freeMemoryMb()));
        m.put("xen_major", String.valueOf(word >>> 16));
        m.put("xen_minor", String.valueOf(word & 0xffff));
        m.put("xen_extra", extra);
        m.put("xen_version", m.get("release"));
        m.put("xen_caps", xen.capabilities());
        m.put("xen_changeset", xen.changeset());
        xen.compileInfo().forEach((k, v) -> m.put("cc_" + k, v));
        m.put("abi_release", xen.release().toString());
        m.put("domctl_interface_version", "0x" + Long.toHexString(xen.abi().constant("XEN_DOMCTL_INTERFACE_VERSION")));
        m.put("sysctl_interface_version", "0x" + Long.toHexString(xen.abi().constant("XEN_SYSCTL_INTERFACE_VERSION")));
        return m;
    }
}
