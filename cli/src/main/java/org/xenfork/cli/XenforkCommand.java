package org.xenfork.cli;

import java.util.function.Function;
import org.xenfork.abi.XenRelease;
import org.xenfork.sim.SimXen;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/** {@code xenfork}: the top command, holding the global options every subcommand inherits. */
@Command(name = "xenfork",
        mixinStandardHelpOptions = true,
        scope = ScopeType.INHERIT, // every subcommand gets --help and --version too
        versionProvider = VersionProvider.class,
        description = "Fork Xen HVM guests from Java: hypercalls through /dev/xen/privcmd, no libxenctrl.",
        subcommands = {AbiCommand.class, InfoCommand.class, ListCommand.class, ForkVmCommand.class,
            ForkResetCommand.class, ForkLaunchDmCommand.class, DemoCommand.class},
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

    @Command(name = "pause", description = "Pause a domain (XEN_DOMCTL_pausedomain).",
            footer = {"", "Example:", "  xenfork pause 5"})
    void pause(@Parameters(paramLabel = "DOMAIN", description = "The domain id (1 to 32751) or name.") String domid) {
        DomainCommands.apply(this, domid, "pause", "paused", (b, d) -> b.xen().pauseDomain(d));
    }

    @Command(name = "unpause", description = "Unpause a domain paused by the toolstack (XEN_DOMCTL_unpausedomain).",
            footer = {"", "Example:", "  xenfork unpause 5"})
    void unpause(@Parameters(paramLabel = "DOMAIN", description = "The domain id (1 to 32751) or name.") String domid) {
        DomainCommands.apply(this, domid, "unpause", "unpaused", (b, d) -> b.xen().unpauseDomain(d));
    }

    @Command(name = "destroy", description = "Destroy a domain (XEN_DOMCTL_destroydomain) and remove its xenstore name.",
            footer = {"", "Example:", "  xenfork destroy 5"})
    void destroy(@Parameters(paramLabel = "DOMAIN", description = "The domain id (1 to 32751) or name.") String domid) {
        DomainCommands.apply(this, domid, "destroy", "destroyed", (b, d) -> b.forker(spec.commandLine().getErr()).destroy(d));
    }
}
