package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.privcmd.XenEnvironmentException;
import org.xenfork.testfixtures.FakeXenstored;
import org.xenfork.xenstore.XenstoreClient;

/**
 * The command line's xenstore names: reads and clean-up degrade when xenstored is
 * away (said once), naming never does, and once a command has asked for names
 * ({@code --name}) a failed read fails it instead of passing a taken name as free.
 */
class XenstoreNamesTest {
    @TempDir
    Path dir;

    FakeXenstored fake;
    final StringWriter said = new StringWriter();

    @BeforeEach
    void start() throws IOException {
        fake = FakeXenstored.start(dir);
        fake.put("/local/domain/3/name", "web");
    }

    @AfterEach
    void stop() throws IOException {
        fake.close();
    }

    private XenstoreNames names(XenstoreNames.Connector c) {
        return new XenstoreNames(new PrintWriter(said, true), c);
    }

    private XenstoreNames.Connector toFake() {
        return () -> XenstoreClient.connect(fake.socketPath(), Duration.ofSeconds(2));
    }

    @Test
    void readsNamesAndRemovesWhatItWrote() throws IOException {
        try (XenstoreNames n = names(toFake())) {
            assertThat(n.name(3)).contains("web");
            n.assign(7, "fz", false);
            assertThat(fake.get("/local/domain/7/name")).isEqualTo("fz");
            n.remove(7);
            assertThat(fake.get("/local/domain/7")).isNull();
        }
        assertThat(said.toString()).isEmpty();
    }

    @Test
    void withoutXenstoredReadsAreEmptySaidOnceAndNamingFails() throws IOException {
        int[] attempts = {0};
        try (XenstoreNames n = names(() -> {
            attempts[0]++;
            throw new IOException("no xenstored socket");
        })) {
            assertThat(n.name(3)).isEmpty();
            assertThat(n.name(4)).isEmpty();
            n.remove(3); // nothing to remove from: no error
            assertThatThrownBy(() -> n.assign(7, "fz", false)).isInstanceOf(IOException.class)
                    .hasMessageContaining("cannot be named 'fz'");
            assertThatThrownBy(n::requireReachable).isInstanceOf(XenEnvironmentException.class)
                    .hasMessageContaining("naming forks needs xenstored").hasMessageContaining("no xenstored socket");
        }
        assertThat(said.toString()).containsOnlyOnce("xenstore is not reachable");
        assertThat(attempts[0]).as("one attempt for the degrading reads, one for requireReachable").isEqualTo(2);
    }

    @Test
    void afterRequireReachableAFailedReadFailsTheCommand() throws IOException {
        try (XenstoreNames n = names(toFake())) {
            n.requireReachable();
            fake.inject(new FakeXenstored.Fault.ErrorReply("EIO"));
            assertThatThrownBy(() -> n.name(3)).isInstanceOf(IOException.class).hasMessageContaining("EIO");
        }
        try (XenstoreNames lenient = names(toFake())) {
            fake.inject(new FakeXenstored.Fault.ErrorReply("EIO"));
            assertThat(lenient.name(3)).isEmpty(); // a listing shows the domain without its name
            assertThat(said.toString()).contains("domain names are not shown");
        }
    }
}
