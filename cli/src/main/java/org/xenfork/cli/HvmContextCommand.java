package org.xenfork.cli;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.xenfork.abi.Values;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.HvmContextLoader;
import org.xenfork.fork.OutputFile;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.hvmcontext.HvmRecord;
import org.xenfork.hvmcontext.RecordType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork hvm-context}: a domain's CPU and platform state as Xen saves it
 * ({@code XEN_DOMCTL_gethvmcontext}), read, shown, edited, compared and loaded
 * back, through the {@code hvm-context} module. Files are the raw stream, the
 * bytes Xen returned. Data goes to stdout, messages to stderr.
 */
@Command(name = "hvm-context",
        description = "Read, show, edit, compare and load HVM contexts (Xen's CPU and platform save records).",
        subcommands = {HvmContextCommand.Get.class, HvmContextCommand.Show.class, HvmContextCommand.SetContext.class,
            HvmContextCommand.Diff.class, HvmContextCommand.SetReg.class},
        footer = {"", "SOURCE is a domain id or name, or a file written by get (an argument naming an existing file,",
            "or containing '/', is a file). Files are read with Xen 4.17's rules unless --xen says otherwise.",
            "Example:", "  xenfork hvm-context get 5 -o ctx.bin && xenfork hvm-context show ctx.bin --vcpu 0 --type CPU"})
final class HvmContextCommand implements Runnable {
    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Opens the backend only when a source is a domain: files need no Xen. */
    private static Backend openIfDomain(XenforkCommand root, PrintWriter err, HvmContextSource... sources) {
        for (HvmContextSource s : sources) {
            if (s.isDomain()) {
                return Backend.open(root, err);
            }
        }
        return null;
    }

    /** Writes a context file whole or not at all; a failed write is exit 2 and leaves the target as it was. */
    private static void write(OutputFile out, byte[] stream) {
        try {
            out.write(stream);
        } catch (IOException e) {
            throw new UsageException("cannot write " + out.target() + ": " + e.getMessage());
        }
    }

    /** What {@code show} and {@code diff} print; returns what it counted. */
    @FunctionalInterface
    private interface Output {
        long printTo(PrintWriter out) throws IOException;
    }

    /**
     * Prints {@code output} on stdout, buffered: the command line's writer flushes at each line, and a
     * million records' lines would be a million writes.
     */
    private static long print(CommandSpec spec, Output output) {
        PrintWriter out = new PrintWriter(new BufferedWriter(spec.commandLine().getOut(), 1 << 16), false);
        try {
            return output.printTo(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // Jackson's signatures; a PrintWriter underneath never throws
        } finally {
            out.flush();
        }
    }

    /** The rules to read with: the hypervisor's release when one is asked, else {@code --xen} or 4.17. */
    private static XenRelease release(XenforkCommand root, Backend b) {
        return b != null ? b.xen().release() : HvmContextSource.fileRelease(root);
    }

    @Command(name = "get", description = "Save a domain's HVM context to a file (XEN_DOMCTL_gethvmcontext).",
            footer = {"", "The file is the stream as Xen returned it, written whole or not at all (mode 0600): in a private",
                "folder beside FILE, then renamed over it. FILE must be a regular file or absent: a folder, symbolic",
                "link, device, FIFO or socket there is refused (exit 2), as is a folder that cannot be written.",
                "Xen pauses the domain while it saves; nothing else is needed.",
                "Example:", "  xenfork hvm-context get 5 -o dom5.hvm"})
    static final class Get implements Runnable {
        @ParentCommand
        HvmContextCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "DOMAIN", description = "The domain id or name.")
        String domain;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "Where to write the context.")
        Path output;

        @Override
        public void run() {
            PrintWriter err = spec.commandLine().getErr();
            DomainArgument arg = DomainArgument.parse(domain, "read the HVM context of");
            OutputFile out = OutputFile.at(output); // before any hypercall
            try (Backend b = Backend.open(parent.root, err)) {
                int d = arg.resolve(b);
                byte[] stream = b.xen().hvmContext(d);
                write(out, stream);
                String summary;
                try {
                    summary = HvmContext.parse(stream, b.xen().release()).records().size() + " records";
                } catch (HvmContextException e) {
                    summary = "not readable by xenfork: " + e.getMessage();
                }
                err.println("xenfork: domain " + d + "'s HVM context (" + stream.length + " bytes, " + summary
                        + ") written to " + output);
            }
        }
    }

    @Command(name = "show", description = "Print an HVM context: every record and field, by Xen's names.",
            footer = {"", "With --json: {\"stream\": {...records in order...}, \"CPU\": {\"0\": {\"rip\": \"0x...\", ...}}, ...};",
                "numbers are 0x-hex strings, byte arrays (fpu_regs, the LAPIC page) plain hex.",
                "Example:", "  xenfork hvm-context show 5 --vcpu 0 --type CPU --json"})
    static final class Show implements Runnable {
        @ParentCommand
        HvmContextCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(paramLabel = "SOURCE", description = "A domain id or name, or a context file.")
        String source;

        @Option(names = "--vcpu", paramLabel = "N", description = "Only the per-vCPU records of vCPU N.")
        Integer vcpu;

        @Option(names = "--type", paramLabel = "NAME", description = "Only records of this type (CPU, LAPIC, PIC, ...).")
        String type;

        @Override
        public void run() {
            HvmContextSource src = HvmContextSource.parse(source, "read the HVM context of");
            try (Backend b = openIfDomain(parent.root, spec.commandLine().getErr(), src)) {
                HvmContext ctx = src.read(b, release(parent.root, b));
                Predicate<HvmRecord> shown = filter(ctx);
                print(spec, out -> {
                    if (parent.root.json) {
                        HvmContextView.json(ctx, shown, out);
                        out.println();
                    } else {
                        HvmContextView.text(ctx, shown, out);
                    }
                    return 0;
                });
            }
        }

        private Predicate<HvmRecord> filter(HvmContext ctx) {
            Predicate<HvmRecord> p = r -> true;
            if (type != null) {
                RecordType t = ctx.types().byName(type).orElseThrow(() -> new UsageException("no record type " + type
                        + " in Xen " + ctx.release() + "; types: " + String.join(", ",
                        ctx.types().all().stream().map(RecordType::name).toList())));
                p = p.and(r -> r.typecode() == t.code());
            }
            if (vcpu != null) {
                if (!ctx.records().stream().anyMatch(r -> r.isPerVcpu() && r.instance() == vcpu)) {
                    throw new UsageException("the context has no records of vCPU " + vcpu + "; its vCPUs with a CPU record: "
                            + ctx.vcpus());
                }
                p = p.and(r -> r.isPerVcpu() && r.instance() == vcpu);
            }
            return p;
        }
    }

    @Command(name = "set", description = "Load an HVM context file into a domain (XEN_DOMCTL_sethvmcontext).",
            footer = {"", "The file is checked first (framing, lengths for the hypervisor's release, known types, vCPU ids",
                "below the domain's max_vcpus): a bad file is exit 2 and nothing is loaded. Xen pauses the domain",
                "while it loads and brings up exactly the vCPUs that have a CPU record.",
                "Example:", "  xenfork hvm-context set 5 dom5.hvm"})
    static final class SetContext implements Runnable {
        @ParentCommand
        HvmContextCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "DOMAIN", description = "The domain id or name.")
        String domain;

        @Parameters(index = "1", paramLabel = "FILE", description = "A context file (from get or set-reg).")
        Path file;

        @Override
        public void run() {
            PrintWriter err = spec.commandLine().getErr();
            DomainArgument arg = DomainArgument.parse(domain, "load an HVM context into");
            byte[] bytes = HvmContextSource.readFile(file);
            try (Backend b = Backend.open(parent.root, err)) {
                int d = arg.resolve(b);
                HvmContext ctx = HvmContextSource.parse(bytes, b.xen().release(), file.toString());
                try {
                    HvmContextLoader.load(b.xen(), d, ctx); // checked first: a refused file loads nothing
                } catch (HvmContextException e) {
                    throw new UsageException(file + ": " + e.getMessage() + " (domain " + d + ")");
                }
                if (!parent.root.dryRun) {
                    err.println("xenfork: " + file + " (" + bytes.length + " bytes, " + ctx.records().size()
                            + " records) loaded into domain " + d);
                }
            }
        }
    }

    @Command(name = "diff", description = "Compare two HVM contexts field by field, per record and vCPU.",
            footer = {"", "One line per difference: RECORD: FIELD A -> B; (absent) where a side lacks it. Nothing on stdout",
                "when they are the same. A byte string differs in runs (fpu_regs[161..162]): the first 64, then one",
                "line for the rest; a value longer than 64 bytes is cut (...(N bytes)).",
                "With --json an array of {type, instance, vcpu, field, a, b} (and left_out: {runs, bytes}).",
                "Example:", "  xenfork hvm-context diff 5 7"})
    static final class Diff implements Runnable {
        @ParentCommand
        HvmContextCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "A", description = "A domain id or name, or a context file.")
        String a;

        @Parameters(index = "1", paramLabel = "B", description = "A domain id or name, or a context file.")
        String b;

        @Override
        public void run() {
            PrintWriter err = spec.commandLine().getErr();
            HvmContextSource sa = HvmContextSource.parse(a, "read the HVM context of");
            HvmContextSource sb = HvmContextSource.parse(b, "read the HVM context of");
            try (Backend backend = openIfDomain(parent.root, err, sa, sb)) {
                XenRelease release = release(parent.root, backend);
                HvmContext ca = sa.read(backend, release);
                HvmContext cb = sb.read(backend, release);
                long differences = print(spec, out -> {
                    if (!parent.root.json) {
                        return HvmContextView.diffText(ca, cb, out);
                    }
                    long n = HvmContextView.diffJson(ca, cb, out);
                    out.println();
                    return n;
                });
                if (differences == 0) {
                    err.println("xenfork: " + sa + " and " + sb + " have the same HVM context");
                }
            }
        }
    }

    @Command(name = "set-reg", description = "Set registers (fields of a vCPU's CPU record) in a domain or a context file.",
            footer = {"", "NAME is a field of Xen's hvm_hw_cpu: rax..r15, rip, rflags, cr0..cr4, dr0..dr7,",
                "cs_sel, cs_base, cs_limit, cs_arbytes (and ds, es, fs, gs, ss, tr, ldtr; idtr/gdtr base and",
                "limit), msr_efer, msr_lstar, ..., tsc, pending_vector, fpu_regs[i]. VALUE is decimal or 0x-hex",
                "and must fit the field. On a FILE the result goes to -o OUT (a value a field already has gives",
                "the same bytes), written as get writes it: OUT must be a regular file or absent. On a domain,",
                "xenfork pauses it, reads its context, sets the fields, loads it back and unpauses it.",
                "Examples:", "  xenfork hvm-context set-reg 5 --vcpu 0 rip=0xffffffff81000000 dr7=0x400",
                "  xenfork hvm-context set-reg dom5.hvm --vcpu 0 rax=0 -o dom5-edited.hvm"})
    static final class SetReg implements Runnable {
        @ParentCommand
        HvmContextCommand parent;

        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "SOURCE", description = "A domain id or name, or a context file.")
        String source;

        @Parameters(index = "1..*", arity = "1..*", paramLabel = "NAME=VALUE", description = "A field and its new value.")
        List<String> assignments;

        @Option(names = "--vcpu", required = true, paramLabel = "N", description = "The vCPU whose registers to set.")
        int vcpu;

        @Option(names = {"-o", "--output"}, paramLabel = "OUT", description = "Where to write the edited context (FILE only).")
        Path output;

        @Override
        public void run() {
            PrintWriter err = spec.commandLine().getErr();
            HvmContextSource src = HvmContextSource.parse(source, "set registers of");
            Map<String, BigInteger> values = assignments();
            if (!src.isDomain()) {
                if (output == null) {
                    throw new UsageException("set-reg on a file writes the result to -o OUT");
                }
                OutputFile out = OutputFile.at(output);
                HvmContext before = src.read(null, HvmContextSource.fileRelease(parent.root));
                HvmContext after = apply(before, values, src.toString());
                write(out, after.serialise());
                report(before, after, values, src.toString(), err);
                err.println("xenfork: written to " + output);
                return;
            }
            if (output != null) {
                throw new UsageException("-o is for a file SOURCE; to keep a domain's context, use hvm-context get");
            }
            try (Backend b = Backend.open(parent.root, err)) {
                int d = src.domain().resolve(b);
                String what = "domain " + d + "'s HVM context";
                // Every name and value is checked on a first copy, before anything changes (exit 2).
                apply(HvmContextSource.parse(b.xen().hvmContext(d), b.xen().release(), what), values, what);
                b.xen().pauseDomain(d);
                try {
                    HvmContext before = HvmContextSource.parse(b.xen().hvmContext(d), b.xen().release(), what);
                    HvmContext after = apply(before, values, what);
                    b.xen().setHvmContext(d, after.serialise());
                    if (!parent.root.dryRun) {
                        report(before, after, values, "domain " + d, err);
                    }
                } finally {
                    b.xen().unpauseDomain(d);
                }
            }
        }

        /** NAME=VALUE pairs in order; a name given twice is refused (which one was meant?). */
        private Map<String, BigInteger> assignments() {
            Map<String, BigInteger> out = new LinkedHashMap<>();
            for (String a : assignments) {
                int eq = a.indexOf('=');
                if (eq <= 0) {
                    throw new UsageException("'" + a + "' is not NAME=VALUE (e.g. rip=0x7c00)");
                }
                String name = a.substring(0, eq).strip();
                if (out.put(name, Values.parse(name, a.substring(eq + 1))) != null) {
                    throw new UsageException(name + " is given twice");
                }
            }
            return out;
        }

        private HvmContext apply(HvmContext ctx, Map<String, BigInteger> values, String what) {
            HvmContext c = ctx;
            try {
                for (Map.Entry<String, BigInteger> e : values.entrySet()) {
                    c = c.withField("CPU", vcpu, e.getKey(), e.getValue());
                }
            } catch (HvmContextException e) {
                throw new UsageException(what + ": " + e.getMessage());
            }
            return c;
        }

        private void report(HvmContext before, HvmContext after, Map<String, BigInteger> values, String what, PrintWriter err) {
            HvmRecord a = before.find("CPU", vcpu).orElseThrow();
            HvmRecord b = after.find("CPU", vcpu).orElseThrow();
            List<String> changes = new ArrayList<>();
            values.keySet().forEach(n -> changes.add(n + " " + Values.hex(a.number(n)) + " -> " + Values.hex(b.number(n))));
            err.println("xenfork: " + what + " vCPU " + vcpu + ": " + String.join(", ", changes));
        }
    }
}
