package org.xenfork.cli;

import java.io.PrintWriter;
import java.util.function.Function;
import org.xenfork.abi.AbiException;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.StoppedException;
import org.xenfork.fork.devicemodel.DeviceModelMissingException;
import org.xenfork.sim.SimXen;
import org.xenfork.privcmd.XenEnvironmentException;
import org.xenfork.privcmd.XenException;
import picocli.CommandLine;

/**
 * Entry point of {@code bin/xenfork}. Exit codes (docs/DESIGN.md, command-line
 * contract): 0 done; 1 the hypervisor, xenstored or QEMU refused; 2 bad usage
 * or input; 3 environment missing; 128 + the signal's number when a signal
 * stopped the command ({@link SignalStop}).
 */
public final class Main {
    public static final int EXIT_OK = 0;
    public static final int EXIT_REFUSED = 1;
    public static final int EXIT_USAGE = 2;
    public static final int EXIT_ENVIRONMENT = 3;
    /**
     * A signal stopped the command: what {@link #run} returns then. A real process exits with
     * 128 + the signal's number, which the JVM sets as it exits: 130 for SIGINT (this value),
     * 143 for SIGTERM, 129 for SIGHUP.
     */
    public static final int EXIT_INTERRUPTED = 130;

    private Main() {
    }

    public static void main(String[] args) {
        main(new XenforkCommand(), args);
    }

    /** {@link #main(String[])} on {@code top}, whose test seams the caller set (a real-process test's simulator). */
    static void main(XenforkCommand top, String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), top, args));
    }

    /** Runs one command line with the given streams; returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        return run(out, err, SimXen::create, args);
    }

    /** As {@link #run(PrintWriter, PrintWriter, String...)}, with the simulator {@code --backend sim} uses (tests). */
    static int run(PrintWriter out, PrintWriter err, Function<XenRelease, SimXen> simulator, String... args) {
        XenforkCommand top = new XenforkCommand();
        top.simulator = simulator;
        return run(out, err, top, args);
    }

    /** Runs {@code args} on {@code top}, whose test seams (simulator, device-model folders) the caller set. */
    static int run(PrintWriter out, PrintWriter err, XenforkCommand top, String... args) {
        CommandLine cl = XenforkCommand.commandLine(top, args);
        cl.setOut(out);
        cl.setErr(err);
        cl.setUsageHelpWidth(100);
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (ex instanceof AbiException || ex instanceof UsageException || ex instanceof ForkRequestException) {
                commandLine.getErr().println("xenfork: " + ex.getMessage());
                return EXIT_USAGE;
            }
            if (ex instanceof XenException || ex instanceof ForkException) {
                commandLine.getErr().println("xenfork: " + ex.getMessage());
                return EXIT_REFUSED;
            }
            if (ex instanceof StoppedException) {
                commandLine.getErr().println("xenfork: " + ex.getMessage());
                return EXIT_INTERRUPTED;
            }
            if (ex instanceof XenEnvironmentException || ex instanceof DeviceModelMissingException) {
                commandLine.getErr().println("xenfork: " + ex.getMessage());
                return EXIT_ENVIRONMENT;
            }
            // Anything else is a bug of ours: say so plainly, keep the stack for the report.
            commandLine.getErr().println("xenfork: internal error (a bug in xenfork; please report it with this output): " + ex);
            ex.printStackTrace(commandLine.getErr());
            return EXIT_REFUSED;
        });
        cl.setExecutionStrategy(parsed -> {
            Logging.configure(top.verbose.length); // before any logger exists: the commands run after this
            return new CommandLine.RunLast().execute(parsed);
        });
        try {
            int code = cl.execute(args);
            if (top.signals.request().requested()) {
                if (code == EXIT_OK) {
                    err.println("xenfork: " + SignalStop.REASON + " came after the work was done; what was printed stands");
                }
                code = EXIT_INTERRUPTED;
            }
            return code;
        } finally {
            out.flush();
            err.flush();
            top.signals.settle(); // only now may a waiting shutdown hook let the JVM exit
        }
    }
}
