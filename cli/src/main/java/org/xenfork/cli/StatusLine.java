package org.xenfork.cli;

import java.io.PrintWriter;
import java.time.Duration;

/**
 * The progress line of a long-running command on stderr. On a terminal it is one line rewritten in
 * place (carriage return, the text, erase to the end of the line) four times a second; anywhere
 * else (a log file, a pipe, CI) each report is a line of its own, every few seconds, so a log
 * stays readable. {@link #end} moves a terminal's cursor past the line, so what follows (the
 * summary, an error) starts on a fresh line.
 */
final class StatusLine {
    static final Duration TERMINAL_EVERY = Duration.ofMillis(250);
    /** A constant, for help texts. */
    static final int LOG_EVERY_SECONDS = 5;
    static final Duration LOG_EVERY = Duration.ofSeconds(LOG_EVERY_SECONDS);
    private static final String ERASE_TO_END_OF_LINE = "\u001b[K";

    private final PrintWriter err;
    private final boolean inPlace;
    private boolean open;

    /** @param inPlace true when stderr is a terminal the user watches */
    StatusLine(PrintWriter err, boolean inPlace) {
        this.err = err;
        this.inPlace = inPlace;
    }

    /** True when the process has a terminal (what {@link System#console()} tells). */
    static boolean onTerminal() {
        return System.console() != null;
    }

    /** How often a report is worth printing in this mode. */
    Duration every() {
        return inPlace ? TERMINAL_EVERY : LOG_EVERY;
    }

    void show(String text) {
        if (inPlace) {
            err.print("\r" + text + ERASE_TO_END_OF_LINE);
            open = true;
        } else {
            err.println(text);
        }
        err.flush();
    }

    /** Ends a line left open on a terminal; nothing otherwise. Safe to call twice. */
    void end() {
        if (open) {
            err.println();
            err.flush();
            open = false;
        }
    }
}
