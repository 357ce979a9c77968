package org.xenfork.cli;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigInteger;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import org.xenfork.abi.AbiException;
import org.xenfork.abi.Values;
import org.xenfork.fork.OutputFile;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.privcmd.ForeignMemory;
import org.xenfork.vmi.GuestMemory;
import org.xenfork.vmi.GuestMemoryException;
import org.xenfork.vmi.MappedPhysicalMemory;
import org.xenfork.vmi.PageWalkException;
import org.xenfork.vmi.PagingEntry;
import org.xenfork.vmi.PagingRegisters;
import org.xenfork.vmi.Translation;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork mem}: a domain's memory, read, written and translated through the {@code vmi}
 * module: foreign mappings of its frames ({@code IOCTL_PRIVCMD_MMAPBATCH_V2}) and, for a
 * guest-virtual address, a walk of the vCPU's page tables as its HVM context describes them.
 */
@Command(name = "mem",
        description = "Read, write and translate a domain's memory (guest-physical, or guest-virtual through a vCPU's page tables).",
        subcommands = {MemCommand.Read.class, MemCommand.Write.class, MemCommand.Translate.class},
        footer = {"", "ADDRESS is decimal or 0x-hex; it is guest-physical unless --virtual is given, then it is translated",
            "through the page tables of vCPU --vcpu (default 0) as the domain's HVM context shows them now.",
            "A domain that runs while it is read may change under the reader: pause it for a consistent view.",
            "Writing a fork's page gives the fork its own copy; its parent's memory never changes.",
            "Examples:", "  xenfork mem read 5 0x100000 64", "  xenfork mem write 7 0x101000 --hex 2a000000",
            "  xenfork mem translate 5 0xffffffff81000000 --vcpu 0"})
final class MemCommand implements Runnable {
    /** The most one command reads or writes: what {@link MappedPhysicalMemory} maps in one call. */
    static final int MAX_LENGTH = MappedPhysicalMemory.MAX_BYTES;

    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Where an address is taken from: guest-physical, or guest-virtual through one vCPU's page tables. */
    static final class AddressSpace {
        @Option(names = "--virtual", description = "ADDRESS is guest-virtual, translated through the vCPU's page tables.")
        boolean virtual;

        @Option(names = "--vcpu", paramLabel = "N", description = "The vCPU whose page tables translate (with --virtual; default 0).")
        Integer vcpu;

        void check() {
            if (vcpu != null && !virtual) {
                throw new UsageException("--vcpu chooses the page tables of a guest-virtual address: give --virtual too");
            }
            if (vcpu != null && vcpu < 0) {
                throw new UsageException("--vcpu must be 0 or more, not " + vcpu);
            }
        }

        int vcpuOrZero() {
            return vcpu == null ? 0 : vcpu;
        }
    }

    /** An open domain's memory, with the paging registers of the vCPU when the address is virtual. */
    private record Target(int domid, GuestMemory memory, PagingRegisters cpu) {

        static Target open(Backend b, int domid, boolean virtual, int vcpu) {
            PagingRegisters cpu = virtual ? registers(b, domid, vcpu) : null;
            return new Target(domid, new GuestMemory(new MappedPhysicalMemory(new ForeignMemory(b.privcmd()), domid)), cpu);
        }

        void read(long address, byte[] dst) throws GuestMemoryException {
            if (cpu == null) {
                memory.readPhysical(address, dst, 0, dst.length);
            } else {
                memory.readVirtual(cpu, address, dst, 0, dst.length);
            }
        }

        void write(long address, byte[] src) throws GuestMemoryException {
            if (cpu == null) {
                memory.writePhysical(address, src, 0, src.length);
            } else {
                memory.writeVirtual(cpu, address, src, 0, src.length);
            }
        }
    }

    /** The paging registers of {@code vcpu}, from the domain's HVM context as Xen saves it now. */
    static PagingRegisters registers(Backend b, int domid, int vcpu) {
        byte[] stream = b.xen().hvmContext(domid);
        HvmContext ctx = HvmContextSource.parse(stream, b.xen().release(), "domain " + domid + "'s HVM context");
        try {
            return PagingRegisters.of(ctx, vcpu);
        } catch (GuestMemoryException e) {
            throw new UsageException("domain " + domid + ": " + e.getMessage());
        }
    }

    /** An address as a user writes it: decimal or 0x-hex, 0 to 2^64-1. */
    static long address(String text, String what) {
        try {
            BigInteger v = Values.parse(what, text);
            if (v.signum() < 0 || v.bitLength() > 64) {
                throw new UsageException(what + " must be 0 to 0xffffffffffffffff, not " + Values.quoted(text));
            }
            return v.longValue();
        } catch (AbiException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** A length from 1 to {@link #MAX_LENGTH}. */
    static int length(String text) {
        long n = address(text, "LENGTH");
        if (n < 1 || n > MAX_LENGTH) {
            throw new UsageException("LENGTH must be 1 to " + MAX_LENGTH + " bytes (16 MiB), not " + Values.quoted(text)
                    + "; read a larger range in parts");
        }
        return (int) n;
    }

    /** Fails unless {@code length} bytes from {@code address} stay below 2^64. */
    static void requireNoWrap(long address, int length, String kind) {
        if (Long.compareUnsigned(address, -1L - (length - 1)) > 0) {
            throw new UsageException(length + " bytes from " + kind + " address " + Values.hex(address)
                    + " run past the top of the address space");
        }
    }

    /** Exit 1 ({@link RefusedException}) with the address and the level or frame that failed. */
    static RuntimeException refused(int domid, GuestMemoryException e) {
        return new RefusedException("domain " + domid + ": " + e.getMessage(), e);
    }

    @Command(name = "read", description = "Print or save LENGTH bytes of a domain's memory.",
            footer = {"", "Without -o: a hex dump on stdout, 16 bytes a line, each line starting with the address of its first",
                "byte. With -o: the raw bytes, written whole or not at all (mode 0600); FILE must be a regular file or",
                "absent. Nothing is written when any byte cannot be read; the message names the first address that",
                "failed and why (not present, beyond the domain's memory, or the paging level whose entry stopped the walk).",
                "Examples:", "  xenfork mem read 5 0x100000 64", "  xenfork mem read 5 0x7c00 512 -o boot.bin",
                "  xenfork mem read 5 0xffffffff81000000 4096 --virtual --vcpu 0 -o text.bin"})
    static final class Read implements Runnable {
        @ParentCommand
        MemCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain id or name.")
        String domain;

        @Parameters(index = "1", paramLabel = "ADDRESS", description = "Where to start reading.")
        String address;

        @Parameters(index = "2", paramLabel = "LENGTH", description = "How many bytes (at most 16 MiB).")
        String length;

        @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "Write the raw bytes here instead of a hex dump.")
        Path output;

        @Mixin
        AddressSpace space;

        @Override
        public void run() {
            space.check();
            DomainArgument arg = DomainArgument.parse(domain, "read the memory of");
            long at = address(address, "ADDRESS");
            int n = length(length);
            requireNoWrap(at, n, space.virtual ? "virtual" : "physical");
            OutputFile out = output == null ? null : OutputFile.at(output); // before any hypercall
            byte[] bytes = new byte[n];
            try (Backend b = Backend.open(parent.root, spec.commandLine().getErr())) {
                int d = arg.resolve(b);
                Target t = Target.open(b, d, space.virtual, space.vcpuOrZero());
                try {
                    t.read(at, bytes);
                } catch (GuestMemoryException e) {
                    throw refused(d, e);
                }
            }
            if (out == null) {
                PrintWriter w = new PrintWriter(new BufferedWriter(spec.commandLine().getOut(), 1 << 16), false);
                HexDump.print(at, bytes, w);
                w.flush();
                return;
            }
            try {
                out.write(bytes);
            } catch (IOException e) {
                throw new UsageException("cannot write " + out.target() + ": " + e.getMessage());
            }
            spec.commandLine().getErr().println("xenfork: " + n + " bytes from " + Values.hex(at) + " written to " + output);
        }
    }

    @Command(name = "write", description = "Write bytes into a domain's memory.",
            footer = {"", "The bytes come from --hex (two hex digits a byte; spaces allowed) or from a regular file (-i).",
                "A guest-virtual range is translated page by page before any byte is written: an unmapped page means",
                "nothing is written. A frame Xen then refuses stops the write, and the message says how many bytes went in.",
                "Writing a fork's page gives the fork its own copy of it; the parent never changes.",
                "Examples:", "  xenfork mem write 7 0x101000 --hex '2a 00 00 00'", "  xenfork mem write 7 0x200000 -i input.bin"})
    static final class Write implements Runnable {
        @ParentCommand
        MemCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain id or name.")
        String domain;

        @Parameters(index = "1", paramLabel = "ADDRESS", description = "Where to start writing.")
        String address;

        @ArgGroup(exclusive = true, multiplicity = "1")
        Source source;

        static final class Source {
            @Option(names = "--hex", paramLabel = "HEX", description = "The bytes, as hex digits.")
            String hex;

            @Option(names = {"-i", "--input"}, paramLabel = "FILE", description = "A regular file holding the bytes.")
            Path input;
        }

        @Mixin
        AddressSpace space;

        @Override
        public void run() {
            space.check();
            DomainArgument arg = DomainArgument.parse(domain, "write the memory of");
            long at = address(address, "ADDRESS");
            byte[] bytes = source.hex != null ? hexBytes(source.hex) : InputFiles.read(source.input, MAX_LENGTH, "a file of the bytes to write");
            if (bytes.length == 0) {
                throw new UsageException("nothing to write: " + (source.hex != null ? "--hex is empty" : source.input + " is empty"));
            }
            requireNoWrap(at, bytes.length, space.virtual ? "virtual" : "physical");
            try (Backend b = Backend.open(parent.root, spec.commandLine().getErr())) {
                int d = arg.resolve(b);
                Target t = Target.open(b, d, space.virtual, space.vcpuOrZero());
                try {
                    t.write(at, bytes);
                } catch (GuestMemoryException e) {
                    throw refused(d, e);
                }
                if (!parent.root.dryRun) {
                    spec.commandLine().getErr().println("xenfork: " + bytes.length + " bytes written to domain " + d + " at "
                            + (space.virtual ? "guest-virtual " : "guest-physical ") + Values.hex(at));
                }
            }
        }

        static byte[] hexBytes(String text) {
            String digits = text.replace(" ", "");
            if (digits.length() > 2 * MAX_LENGTH) {
                throw new UsageException("--hex holds more than " + MAX_LENGTH + " bytes; use -i FILE");
            }
            if (digits.length() % 2 != 0 || !digits.chars().allMatch(c -> Character.digit(c, 16) >= 0 && c < 128)) {
                throw new UsageException("--hex must be pairs of hex digits (2a00ff, spaces allowed), not " + Values.quoted(text));
            }
            return Values.fromHex(digits);
        }
    }

    @Command(name = "translate", description = "Translate a guest-virtual address through a vCPU's page tables, level by level.",
            footer = {"", "One line per paging level: its entry's name (PML4E, PDPTE, PDE, PTE...), guest-physical address",
                "and value, then the physical address and page size. The walk reads the tables and changes nothing (no",
                "accessed or dirty bits). A walk that stops prints the levels it read, then the reason (exit 1).",
                "With --json: {\"virtual\", \"physical\", \"mode\", \"page_size\", \"levels\": [{\"level\", \"address\", \"entry\"}]}.",
                "Example:", "  xenfork mem translate 5 0xffffffff81000000 --vcpu 1"})
    static final class Translate implements Runnable {
        @ParentCommand
        MemCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain id or name.")
        String domain;

        @Parameters(index = "1", paramLabel = "VIRTUAL", description = "The guest-virtual address.")
        String address;

        @Option(names = "--vcpu", paramLabel = "N", description = "The vCPU whose page tables translate (default 0).")
        int vcpu;

        @Override
        public void run() {
            if (vcpu < 0) {
                throw new UsageException("--vcpu must be 0 or more, not " + vcpu);
            }
            DomainArgument arg = DomainArgument.parse(domain, "translate an address of");
            long va = address(address, "VIRTUAL");
            PrintWriter out = spec.commandLine().getOut();
            try (Backend b = Backend.open(parent.root, spec.commandLine().getErr())) {
                int d = arg.resolve(b);
                Target t = Target.open(b, d, true, vcpu);
                Translation tr;
                try {
                    tr = t.memory().translate(t.cpu(), va);
                } catch (PageWalkException e) {
                    if (!parent.root.json) {
                        out.println(t.cpu().mode() + ", vCPU " + vcpu + ":");
                        e.entries().forEach(entry -> out.println(line(entry)));
                        if (e.level().isPresent() && e.entryAddress().isPresent() && e.entry().isPresent()) {
                            out.println(line(e.level().get().name(), e.entryAddress().getAsLong(), e.entry().getAsLong())
                                    + "  <- " + e.reason().name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '));
                        }
                    }
                    throw refused(d, e);
                }
                if (parent.root.json) {
                    out.println(json(tr));
                } else {
                    out.println(tr.mode() + ", vCPU " + vcpu + ":");
                    tr.entries().forEach(entry -> out.println(line(entry)));
                    out.println("  " + Values.hex(va) + " -> " + Values.hex(tr.physicalAddress()) + " (page of "
                            + tr.pageSize() + " bytes at " + Values.hex(tr.pageBase()) + ")");
                }
            }
        }

        private static String line(PagingEntry e) {
            return line(e.level().name(), e.address(), e.value());
        }

        private static String line(String level, long address, long entry) {
            return String.format(java.util.Locale.ROOT, "  %-5s at %s = %s", level, Values.hex(address), Values.hex(entry));
        }

        private static ObjectNode json(Translation tr) {
            ObjectNode o = AbiCommand.JSON.createObjectNode().put("virtual", Values.hex(tr.virtualAddress()))
                    .put("physical", Values.hex(tr.physicalAddress())).put("mode", tr.mode().name())
                    .put("page_size", tr.pageSize());
            ArrayNode levels = o.putArray("levels");
            for (PagingEntry e : tr.entries()) {
                levels.addObject().put("level", e.level().name()).put("address", Values.hex(e.address()))
                        .put("entry", Values.hex(e.value()));
            }
            return o;
        }
    }
}
