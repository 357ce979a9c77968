package org.xenfork.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * Writes what a Linux command ships besides itself, from the picocli model, so
 * they cannot drift from the code: the bash completion script
 * ({@code share/bash-completion/completions/xenfork}) and one man page per command
 * ({@code share/man/man1/xenfork.1}, {@code xenfork-fork-vm.1}, {@code xenfork-abi-layout.1}, …).
 * Run at package time by {@code dist/build-dist.sh}:
 *
 * <pre>java -cp xenfork.jar org.xenfork.cli.ShellFiles OUT_DIR</pre>
 */
public final class ShellFiles {
    private ShellFiles() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: ShellFiles OUT_DIR");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        CommandLine top = XenforkCommand.commandLine(new XenforkCommand());
        Path completion = out.resolve("share/bash-completion/completions/xenfork");
        Files.createDirectories(completion.getParent());
        Files.writeString(completion, AutoComplete.bash("xenfork", top), StandardCharsets.UTF_8);
        Path man = out.resolve("share/man/man1");
        Files.createDirectories(man);
        String version = String.join(" ", top.getCommandSpec().version());
        for (CommandLine c : commands(top)) {
            String page = c.getCommandSpec().qualifiedName("-");
            Files.writeString(man.resolve(page + ".1"), manPage(c, version), StandardCharsets.UTF_8);
        }
    }

    /** Every command, depth first, help subcommands left out. */
    static List<CommandLine> commands(CommandLine c) {
        List<CommandLine> all = new ArrayList<>(List.of(c));
        for (CommandLine sub : c.getSubcommands().values()) {
            if (!sub.getCommandSpec().helpCommand() && !all.contains(sub)) {
                for (CommandLine s : commands(sub)) {
                    if (!all.contains(s)) {
                        all.add(s);
                    }
                }
            }
        }
        return all;
    }

    /** One man page in roff (man(7) macros), from the command's own help texts. */
    static String manPage(CommandLine c, String version) {
        CommandSpec spec = c.getCommandSpec();
        String name = spec.qualifiedName(" ");
        StringBuilder r = new StringBuilder();
        // No date: the page is the same for the same version, whenever it is built.
        r.append(".TH \"").append(roff(spec.qualifiedName("-").toUpperCase())).append("\" 1 \"\" \"")
                .append(roff(version)).append("\" \"xenfork manual\"\n");
        r.append(".SH NAME\n").append(roff(spec.qualifiedName("-"))).append(" \\- ")
                .append(roff(first(spec.usageMessage().description()))).append('\n');
        r.append(".SH SYNOPSIS\n.nf\n").append(roff(c.getHelp().synopsis(0).strip())).append("\n.fi\n");
        String[] description = spec.usageMessage().description();
        r.append(".SH DESCRIPTION\n");
        for (String line : description) {
            r.append(roff(line)).append('\n');
        }
        List<PositionalParamSpec> params = spec.positionalParameters();
        if (!params.isEmpty()) {
            r.append(".SH ARGUMENTS\n");
            for (PositionalParamSpec p : params) {
                r.append(".TP\n.I ").append(roff(p.paramLabel())).append('\n').append(roff(String.join(" ", p.description())))
                        .append('\n');
            }
        }
        r.append(".SH OPTIONS\n");
        for (OptionSpec o : spec.options()) {
            r.append(".TP\n.B ").append(roff(String.join(", ", o.names())));
            if (o.arity().max() > 0) {
                r.append(" \\fI").append(roff(o.paramLabel())).append("\\fR");
            }
            r.append('\n').append(roff(String.join(" ", o.description()))).append('\n');
        }
        if (!c.getSubcommands().isEmpty()) {
            r.append(".SH COMMANDS\n");
            for (CommandLine sub : c.getSubcommands().values()) {
                if (sub.getCommandSpec().helpCommand()) {
                    continue;
                }
                r.append(".TP\n.B ").append(roff(sub.getCommandName())).append('\n')
                        .append(roff(first(sub.getCommandSpec().usageMessage().description()))).append('\n');
            }
        }
        String[] footer = spec.usageMessage().footer();
        if (footer.length > 0) {
            r.append(".SH NOTES\n.nf\n");
            for (String line : footer) {
                r.append(roff(line)).append('\n');
            }
            r.append(".fi\n");
        }
        r.append(".SH EXIT STATUS\n0 done; 1 Xen, xenstored or QEMU refused; 2 bad usage or input; 3 environment missing.\n");
        r.append(".SH SEE ALSO\n").append(name.equals("xenfork") ? "xl(1)" : "xenfork(1)").append('\n');
        return r.toString();
    }

    private static String first(String[] lines) {
        return lines.length == 0 ? "" : lines[0];
    }

    /** Text safe in roff: backslashes, hyphens, and lines that would start with a request. */
    static String roff(String text) {
        String t = text.replace("\\", "\\e").replace("-", "\\-");
        StringBuilder out = new StringBuilder();
        for (String line : t.split("\n", -1)) {
            if (out.length() > 0) {
                out.append('\n');
            }
            out.append(line.startsWith(".") || line.startsWith("'") ? "\\&" + line : line);
        }
        return out.toString();
    }
}
