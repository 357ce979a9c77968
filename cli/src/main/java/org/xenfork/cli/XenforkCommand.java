package org.xenfork.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/** {@code xenfork}: the top command, holding the global options every subcommand inherits. */
@Command(name = "xenfork",
        mixinStandardHelpOptions = true,
        scope = ScopeType.INHERIT, // every subcommand gets --help and --version too
        versionProvider = VersionProvider.class,
        description = "Fork Xen HVM guests from Java: hypercalls through /dev/xen/privcmd, no libxenctrl.",
        subcommands = {AbiCommand.class},
        footer = {"", "Exit codes: 0 done; 1 Xen, xenstored or QEMU refused; 2 bad usage or input; 3 environment missing."})
public final class XenforkCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Option(names = "--json", scope = ScopeType.INHERIT, description = "Print results as JSON.")
    boolean json;

    @Option(names = "--xen", paramLabel = "X.Y", scope = ScopeType.INHERIT,
            description = "Xen release whose ABI to use (overrides detection), e.g. 4.17.")
    String xen;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
