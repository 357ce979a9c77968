package org.xenfork.cli;

import java.util.function.Function;
import org.xenfork.abi.XenRelease;
import org.xenfork.sim.SimXen;
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
        subcommands = {AbiCommand.class, InfoCommand.class, ListCommand.class,
            DomainCommands.Pause.class, DomainCommands.Unpause.class, DomainCommands.Destroy.class},
        footer = {"", "Exit codes: 0 done; 1 Xen, xenstored or QEMU refused; 2 bad usage or input; 3 environment missing."})
public final class XenforkCommand implements Runnable {

    @Spec
    CommandSpec spec;

    @Option(names = "--json", scope = ScopeType.INHERIT, description = "Print results as JSON.")
    boolean json;

    @Option(names = "--xen", paramLabel = "X.Y", scope = ScopeType.INHERIT,
            description = "Xen release whose ABI to use (overrides detection), e.g. 4.17.")
    String xen;

    @Option(names = "--backend", paramLabel = "privcmd|sim", scope = ScopeType.INHERIT,
            description = "Where hypercalls go: privcmd (/dev/xen/privcmd, the default) or sim (a simulated Xen, "
                    + "for trying xenfork anywhere; its release is --xen or 4.17).")
    Backend.Kind backend = Backend.Kind.privcmd;

    @Option(names = "--trace", scope = ScopeType.INHERIT,
            description = "Decode each hypercall to stderr: name, every field, result or errno.")
    boolean trace;

    @Option(names = "--dry-run", scope = ScopeType.INHERIT,
            description = "Print the hypercalls a mutating command would issue, and issue none of them "
                    + "(queries it needs, such as XENVER_version, still run).")
    boolean dryRun;

    /** What {@code --backend sim} runs on: a fresh {@link SimXen} of the release (tests pass one with guests). */
    Function<XenRelease, SimXen> simulator = SimXen::create;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
