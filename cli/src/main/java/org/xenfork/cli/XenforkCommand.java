package org.xenfork.cli;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Supplier;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.devicemodel.DeviceModelLauncher;
import org.xenfork.sim.SimXen;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork}: the top command, holding the global options every subcommand inherits.
 * The class subcommands are registered by {@link #commandLine}, only the one a command line
 * names: picocli builds a command's model by reflection when it is registered, and building
 * all of them was most of xenfork's start-up (docs/PERFORMANCE.md, "Start-up").
 */
@Command(name = "xenfork",
        mixinStandardHelpOptions = true,
        scope = ScopeType.INHERIT, // every subcommand gets --help and --version too
        versionProvider = VersionProvider.class,
        description = "Fork Xen HVM guests from Java: hypercalls through /dev/xen/privcmd, no libxenctrl.",
        footer = {"", "Exit codes: 0 done; 1 Xen, xenstored or QEMU refused; 2 bad usage or input; 3 environment missing;",
            "4: fuzz found a crash. 130, 143, 129: stopped by SIGINT, SIGTERM, SIGHUP (fork-vm, fork-launch-dm: at a safe point).",
            "Examples:", "  xenfork demo", "  F=$(xenfork fork-vm -p --block-interrupts 5) && xenfork fork-reset $F"})
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

    @Option(names = {"-v", "--verbose"}, scope = ScopeType.INHERIT,
            description = "Say what xenfork does (-v), and how (-vv), on stderr. Quiet by default; --trace is separate.")
    boolean[] verbose = new boolean[0];

    @Option(names = "--dry-run", scope = ScopeType.INHERIT,
            description = "Print the hypercalls a mutating command would issue, and issue none of them "
                    + "(queries it needs, such as XENVER_version, still run).")
    boolean dryRun;

    /** The class subcommands by name, in the order help lists them. */
    static final Map<String, Supplier<Object>> SUBCOMMANDS = subcommands();

    private static Map<String, Supplier<Object>> subcommands() {
        Map<String, Supplier<Object>> m = new LinkedHashMap<>();
        m.put("abi", AbiCommand::new);
        m.put("info", InfoCommand::new);
        m.put("list", ListCommand::new);
        m.put("fork-vm", ForkVmCommand::new);
        m.put("fork-reset", ForkResetCommand::new);
        m.put("save-devices-state", SaveDevicesStateCommand::new);
        m.put("fork-launch-dm", ForkLaunchDmCommand::new);
        m.put("hvm-context", HvmContextCommand::new);
        m.put("mem", MemCommand::new);
        m.put("monitor", MonitorCommand::new);
        m.put("fuzz", FuzzCommand::new);
        m.put("demo", DemoCommand::new);
        return m;
    }

    /**
     * The command line for {@code args}: the top command with the one class
     * subcommand the arguments name; none for {@code --version} alone or for the
     * method subcommands (pause, unpause, destroy); all of them otherwise (help,
     * no command, an unknown name: picocli then lists them or suggests one).
     */
    static CommandLine commandLine(XenforkCommand top, String... args) {
        CommandLine cl = new CommandLine(top);
        List<String> words = Arrays.asList(args);
        Optional<String> named = words.stream().filter(SUBCOMMANDS::containsKey).findFirst();
        boolean none = words.stream().anyMatch(cl.getSubcommands()::containsKey)
                || !words.isEmpty() && words.stream().allMatch(a -> a.equals("--version") || a.equals("-V"));
        for (Map.Entry<String, Supplier<Object>> e : SUBCOMMANDS.entrySet()) {
            if (named.map(e.getKey()::equals).orElse(!none)) {
                cl.addSubcommand(e.getKey(), e.getValue().get());
            }
        }
        // No @FILE argument files: picocli would read any file root can read and put its lines into the
        // arguments, where a message quotes them (xenfork pause @/etc/shadow). An argument is what it says.
        // Set last: picocli hands the setting to the subcommands present when it is set.
        cl.setExpandAtFiles(false);
        return cl;
    }

    /** What {@code --backend sim} runs on: a fresh {@link SimXen} of the release (tests pass one with guests). */
    Function<XenRelease, SimXen> simulator = SimXen::create;

    /** What a signal does to fork-vm and fork-launch-dm: stop at a safe point (installed by those commands only). */
    final SignalStop signals = new SignalStop();

    /** Where {@code xenfork monitor} keeps its records (tests use their own folder). */
    java.nio.file.Path monitorRecords = MonitorRecord.DEFAULT_FOLDER;

    /** Where device models' sockets and logs go (libxl's folders; tests use their own). */
    DeviceModelLauncher.Settings deviceModels = DeviceModelLauncher.Settings.DEFAULT;

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

    @Command(name = "destroy", description = "Destroy a domain (XEN_DOMCTL_destroydomain), after its QEMU device model "
            + "if it has one; remove its xenstore entries.",
            footer = {"", "Example:", "  xenfork destroy 5"})
    void destroy(@Parameters(paramLabel = "DOMAIN", description = "The domain id (1 to 32751) or name.") String domid) {
        DomainCommands.apply(this, domid, "destroy", "destroyed", (b, d) -> {
            if (!dryRun) { // as xl destroy: the device model first, so no QEMU outlives its domain
                b.stopDeviceModel(d, spec.commandLine().getErr(), deviceModels);
            }
            b.forker(spec.commandLine().getErr()).destroy(d);
        });
    }
}
