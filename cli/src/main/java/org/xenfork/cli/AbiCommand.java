package org.xenfork.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.Map;
import java.util.Optional;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Field;
import org.xenfork.abi.StructCodec;
import org.xenfork.abi.StructLayout;
import org.xenfork.abi.Values;
import org.xenfork.abi.XenRelease;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork abi}: Xen's structs for every supported release, printable,
 * encodable and decodable, on any machine (no Xen needed).
 */
@Command(name = "abi",
        description = "Xen's hypercall structs per release: layouts, encode, decode (no Xen needed).",
        subcommands = {AbiCommand.Versions.class, AbiCommand.Layout.class, AbiEncodeCommand.class, AbiCommand.Decode.class})
final class AbiCommand implements Runnable {
    static final ObjectMapper JSON = new ObjectMapper();

    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The release named by {@code --xen}; the abi commands need one (there is nothing to detect). */
    Abi abi(String command) {
        if (root.xen == null) {
            throw new UsageException("abi " + command + " needs --xen X.Y (supported: " + XenRelease.supportedList() + ")");
        }
        return Abi.forRelease(XenRelease.parse(root.xen));
    }

    @Command(name = "versions", description = "List the supported Xen releases with their domctl and sysctl interface versions.",
            footer = {"", "Example:", "  xenfork abi versions --json"})
    static final class Versions implements Runnable {
        @ParentCommand
        AbiCommand abi;

        @Spec
        CommandSpec spec;

        @Override
        public void run() {
            PrintWriter out = spec.commandLine().getOut();
            if (abi.root.json) {
                ArrayNode arr = JSON.createArrayNode();
                for (XenRelease r : XenRelease.SUPPORTED) {
                    Abi a = Abi.forRelease(r);
                    arr.addObject()
                            .put("xen", r.toString())
                            .put("domctl_interface_version", Values.hex(a.constant("XEN_DOMCTL_INTERFACE_VERSION")))
                            .put("sysctl_interface_version", Values.hex(a.constant("XEN_SYSCTL_INTERFACE_VERSION")));
                }
                out.println(arr);
                return;
            }
            out.printf("%-6s %-8s %-8s%n", "xen", "domctl", "sysctl");
            for (XenRelease r : XenRelease.SUPPORTED) {
                Abi a = Abi.forRelease(r);
                out.printf("%-6s %-8s %-8s%n", r, Values.hex(a.constant("XEN_DOMCTL_INTERFACE_VERSION")),
                        Values.hex(a.constant("XEN_SYSCTL_INTERFACE_VERSION")));
            }
        }
    }

    @Command(name = "layout", description = "Print a struct's fields with offsets, sizes and C types; without STRUCT, list the structs.",
            footer = {"", "Example:", "  xenfork abi layout --xen 4.17 xen_domctl_createdomain"})
    static final class Layout implements Runnable {
        @ParentCommand
        AbiCommand abi;

        @Spec
        CommandSpec spec;

        @Parameters(arity = "0..1", paramLabel = "STRUCT", description = "Xen's struct name, e.g. xen_domctl.")
        String struct;

        @Override
        public void run() {
            Abi a = abi.abi("layout");
            PrintWriter out = spec.commandLine().getOut();
            if (struct == null) {
                listStructs(a, out);
                return;
            }
            StructLayout s = a.struct(struct);
            if (abi.root.json) {
                ObjectNode o = JSON.createObjectNode().put("xen", a.release().toString()).put("struct", s.name())
                        .put("size", s.size()).put("align", s.align());
                ArrayNode fields = o.putArray("fields");
                for (Field f : s.fields()) {
                    ObjectNode fo = fields.addObject().put("path", f.path()).put("offset", f.offset()).put("size", f.size())
                            .put("type", f.type()).put("kind", f.kind().label());
                    if (f.kind() == Field.Kind.BITFIELD) {
                        fo.put("bit_offset", f.bitOffset()).put("bit_width", f.bitWidth());
                    }
                }
                out.println(o);
                return;
            }
            out.printf("%s %s (Xen %s): size %d, align %d%n", s.isUnion() ? "union" : "struct", s.name(), a.release(), s.size(),
                    s.align());
            out.printf("%6s %5s  %-44s %s%n", "offset", "size", "type", "field");
            for (Field f : s.fields()) {
                String size = f.kind() == Field.Kind.BITFIELD ? ":" + f.bitWidth() : String.valueOf(f.size());
                String type = f.kind() == Field.Kind.BITFIELD
                        ? f.type() + " (bits " + f.bitOffset() % 8 + ".." + (f.bitOffset() % 8 + f.bitWidth() - 1) + " from byte " + f.offset() + ")"
                        : f.type();
                out.printf("%6d %5s  %-44s %s%n", f.offset(), size, type, f.path());
            }
        }

        private void listStructs(Abi a, PrintWriter out) {
            if (abi.root.json) {
                ArrayNode arr = JSON.createArrayNode();
                a.structs().forEach(s -> arr.addObject().put("struct", s.name()).put("size", s.size()));
                out.println(arr);
                return;
            }
            for (StructLayout s : a.structs()) {
                out.printf("%-34s %5d%n", s.name(), s.size());
            }
        }
    }

    @Command(name = "decode", description = "Decode a struct's bytes (hex) to path=value lines.",
            footer = {"", "For xen_domctl and xen_sysctl the union member follows cmd, for xen_mem_sharing_op it follows op.",
                "Example (a fork of domain 5 into domain 0x123):",
                "  xenfork abi decode --xen 4.17 xen_mem_sharing_op \\",
                "    $(xenfork abi encode --xen 4.17 xen_mem_sharing_op op=9 domain=0x123 u.fork.parent_domain=5)"})
    static final class Decode implements Runnable {
        @ParentCommand
        AbiCommand abi;

        @Spec
        CommandSpec spec;

        @Option(names = "--member", paramLabel = "NAME", description = "Show this union member instead of the one the header selects.")
        String member;

        @Parameters(index = "0", paramLabel = "STRUCT", description = "Xen's struct name.")
        String struct;

        @Parameters(index = "1", paramLabel = "HEX", description = "The struct's bytes as hex, exactly sizeof(STRUCT) of them.")
        String hex;

        @Override
        public void run() {
            StructLayout s = abi.abi("decode").struct(struct);
            Map<String, Long> values = StructCodec.decode(s, Values.fromHex(hex), Optional.ofNullable(member));
            PrintWriter out = spec.commandLine().getOut();
            if (abi.root.json) {
                ObjectNode o = JSON.createObjectNode();
                values.forEach((path, v) -> o.put(path, Values.hex(v)));
                out.println(o);
            } else {
                values.forEach((path, v) -> out.println(path + "=" + Values.hex(v)));
            }
        }
    }
}
