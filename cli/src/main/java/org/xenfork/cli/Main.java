package org.xenfork.cli;

import java.io.PrintWriter;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.util.Locale;
import java.util.function.Function;
import org.xenfork.abi.AbiException;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.OutputPathException;
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
            if (ex instanceof AbiException || ex instanceof UsageException || ex instanceof ForkRequestException
                    || ex instanceof OutputPathException) {
                commandLine.getErr().println("xenfork: " + ex.getMessage());
                return EXIT_USAGE;
            }
            if (ex instanceof InvalidPathException p) {
                commandLine.getErr().println("xenfork: " + unusablePath(p));
                return EXIT_USAGE;
            }
            if (ex instanceof XenException || ex instanceof ForkException || ex instanceof RefusedException) {
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

    /**
     * Why a path cannot be used: it holds a NUL, or characters the JVM's file-name charset
     * ({@code sun.jnu.encoding}, from the locale; Java 17 takes no other) cannot encode. bin/xenfork
     * runs Java under a UTF-8 locale, so only the NUL remains there; a JVM started otherwise says how.
     */
    static String unusablePath(InvalidPathException e) {
        String charset = System.getProperty("sun.jnu.encoding", "UTF-8");
        boolean utf8 = Charset.isSupported(charset) && Charset.forName(charset).equals(StandardCharsets.UTF_8);
        return "not a usable path: \"" + visible(e.getInput()) + "\" (" + e.getReason()
                + (utf8 ? "" : "; Java runs with file names in " + charset + ": run xenfork under a UTF-8 locale, e.g. "
                        + "LC_ALL=C.UTF-8, as bin/xenfork does") + ")";
    }

    /** {@code text} with control characters as {@code \xNN}, so a message cannot move the terminal's cursor. */
    private static String visible(String text) {
        StringBuilder sb = new StringBuilder();
        text.codePoints().forEach(c -> {
            if (c < 0x20 || c == 0x7f || c >= 0x80 && c < 0xa0) {
                sb.append(String.format(Locale.ROOT, "\\x%02x", c));
            } else {
                sb.appendCodePoint(c);
            }
        });
        return sb.toString();
    }
}
