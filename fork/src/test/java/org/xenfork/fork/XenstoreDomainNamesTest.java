package org.xenfork.fork;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.FakeXenstored;
import org.xenfork.xenstore.XenstoreClient;

/** What a fork's name puts into xenstore and takes out again, over a real socket to the fake xenstored. */
class XenstoreDomainNamesTest {
    @TempDir
    Path dir;

    FakeXenstored fake;
    XenstoreClient xs;
    XenstoreDomainNames names;

    @BeforeEach
    void start() throws IOException {
        fake = FakeXenstored.start(dir);
        xs = XenstoreClient.connect(fake.socketPath(), Duration.ofSeconds(3));
        names = new XenstoreDomainNames(xs);
    }

    @AfterEach
    void stop() throws IOException {
        xs.close();
        fake.close();
    }

    @Test
    void assignWritesWhatXlListAndXlDestroyRead() throws IOException {
        names.assign(7, "fuzz-2", false);
        assertThat(fake.get("/local/domain/7/name")).isEqualTo("fuzz-2");
        assertThat(fake.get("/local/domain/7/domid")).isEqualTo("7");
        assertThat(fake.get("/libxl/7/type")).isEqualTo("hvm");
        assertThat(fake.perms("/local/domain/7")).containsExactly("n0", "r7");
        assertThat(names.name(7)).contains("fuzz-2");
        assertThat(fake.received(FakeXenstored.TRANSACTION_END)).hasSize(1); // all of it in one transaction

        names.remove(7);
        assertThat(fake.get("/local/domain/7")).isNull();
        assertThat(fake.get("/libxl/7")).isNull();
        assertThat(names.name(7)).isEmpty();
        names.remove(7); // gone already: not an error
    }

    @Test
    void aConflictingTransactionIsRetriedAndABadNameNeverSent() throws IOException {
        fake.failNextCommits(2);
        names.assign(9, "sink", true);
        assertThat(fake.get("/local/domain/9/name")).isEqualTo("sink");
        assertThat(fake.get("/libxl/9/type")).isEqualTo("pvh");
        assertThat(fake.received(FakeXenstored.TRANSACTION_END)).hasSize(3);

        int before = fake.received().size();
        assertThatThrownBy(() -> names.assign(9, "../../tool", false)).isInstanceOf(IllegalArgumentException.class);
        assertThat(fake.received()).hasSize(before);
    }

    @Test
    void aRefusalIsAnIOExceptionNamingThePath() {
        fake.actAsDomain(5); // an unprivileged connection may not write under /local/domain/7
        assertThatThrownBy(() -> names.assign(7, "x", false)).isInstanceOf(IOException.class).hasMessageContaining("EACCES");
    }
}
