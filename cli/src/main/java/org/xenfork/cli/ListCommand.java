package org.xenfork.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.HexFormat;
import java.util.List;
import org.xenfork.privcmd.DomainFlag;
import org.xenfork.privcmd.DomainInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code xenfork list}: the domains, like {@code xl list}, from XEN_SYSCTL_getdomaininfolist. */
@Command(name = "list", description = "List domains like xl list: name, id, memory, vCPUs, state, CPU time.",
        footer = {"", "With --json: an array of objects with domid, name, memory_kb, vcpus, flags (and every field with -l).",
            "Example:", "  xenfork list -l --json"})
final class ListCommand implements Runnable {
    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Option(names = {"-l", "--long"}, description = "Every field of XEN_DOMCTL_getdomaininfo.")
    boolean longFormat;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        try (Backend b = Backend.open(root, spec.commandLine().getErr())) {
            List<DomainInfo> domains = b.xen().domains();
            if (root.json) {
                ArrayNode arr = AbiCommand.JSON.createArrayNode();
                for (DomainInfo d : domains) {
                    arr.add(json(d, b.name(d.domid()).orElse(null), longFormat));
                }
                out.println(arr);
                return;
            }
            if (longFormat) {
                for (DomainInfo d : domains) {
                    json(d, b.name(d.domid()).orElse(null), true).properties()
                            .forEach(e -> out.printf("%-20s %s%n", e.getKey(), e.getValue().asText()));
                    out.println();
                }
                return;
            }
            out.printf("%-40s %5s %5s %5s %6s %10s%n", "Name", "ID", "Mem", "VCPUs", "State", "Time(s)");
            for (DomainInfo d : domains) {
                out.printf("%-40s %5d %5d %5d %6s %10.1f%n", b.name(d.domid()).orElse("(null)"), d.domid(),
                        d.memoryKb() / 1024, d.onlineVcpus(), d.stateLetters(), d.cpuTimeNs() / 1e9);
            }
        }
    }

    static ObjectNode json(DomainInfo d, String name, boolean all) {
        ObjectNode o = AbiCommand.JSON.createObjectNode();
        o.put("domid", d.domid());
        if (name == null) {
            o.putNull("name");
        } else {
            o.put("name", name);
        }
        o.put("memory_kb", d.memoryKb());
        o.put("vcpus", d.onlineVcpus());
        o.put("flags", "0x" + Long.toHexString(d.flags()));
        o.put("state", d.stateLetters());
        if (all) {
            o.put("hvm", d.has(DomainFlag.HVM_GUEST));
            o.put("hap", d.has(DomainFlag.HAP));
            o.put("max_vcpus", d.maxVcpus());
            o.put("tot_pages", d.totPages());
            o.put("max_pages", d.maxPages());
            o.put("max_memkb", d.maxPages() * 4);
            o.put("outstanding_pages", d.outstandingPages());
            o.put("shr_pages", d.shrPages());
            o.put("paged_pages", d.pagedPages());
            o.put("shared_info_frame", "0x" + Long.toHexString(d.sharedInfoFrame()));
            o.put("cpu_time_ns", d.cpuTimeNs());
            o.put("ssidref", d.ssidref());
            o.put("uuid", uuid(d.handle()));
            o.put("cpupool", d.cpupool());
            o.put("gpaddr_bits", d.gpaddrBits());
            o.put("emulation_flags", "0x" + Long.toHexString(d.emulationFlags()));
            o.put("misc_flags", "0x" + Long.toHexString(d.miscFlags()));
            o.put("shutdown_reason", d.has(DomainFlag.SHUTDOWN) ? d.shutdownReason() : -1);
        }
        return o;
    }

    /** The handle as the UUID libxl shows, 8-4-4-4-12 hex digits. */
    static String uuid(byte[] h) {
        String x = HexFormat.of().formatHex(h);
        return x.substring(0, 8) + "-" + x.substring(8, 12) + "-" + x.substring(12, 16) + "-" + x.substring(16, 20) + "-" + x.substring(20);
    }
}
