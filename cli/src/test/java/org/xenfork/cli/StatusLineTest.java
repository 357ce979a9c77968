package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** The status line: rewritten in place on a terminal and closed before what follows; whole lines in a log. */
class StatusLineTest {
    private final StringWriter text = new StringWriter();
    private final PrintWriter err = new PrintWriter(text);

    @Test
    void onATerminalEachReportOverwritesTheLastAndEndMovesPastIt() {
        StatusLine line = new StatusLine(err, true);
        line.show("10 iterations");
        line.show("5 iterations");
        line.end();
        line.end();
        err.print("summary");
        err.flush();
        // the shorter second report erases what is left of the first; one newline however often end() is called
        assertThat(text.toString()).isEqualTo("\r10 iterations\u001b[K\r5 iterations\u001b[K\nsummary");
        assertThat(line.every()).isEqualTo(StatusLine.TERMINAL_EVERY);
    }

    @Test
    void elsewhereEachReportIsALineOfItsOwnWithoutControlCharacters() {
        StatusLine line = new StatusLine(err, false);
        line.show("10 iterations");
        line.show("20 iterations");
        line.end();
        err.flush();
        assertThat(text.toString()).isEqualTo(String.format("10 iterations%n20 iterations%n"));
        assertThat(line.every()).isEqualTo(StatusLine.LOG_EVERY).hasSeconds(StatusLine.LOG_EVERY_SECONDS);
    }

    @Test
    void endWithoutAReportPrintsNothing() {
        new StatusLine(err, true).end();
        err.flush();
        assertThat(text.toString()).isEmpty();
    }
}
