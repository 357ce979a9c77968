package org.xenfork.xenstore;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.testfixtures.FakeXenstored;
import org.xenfork.wire.ConnectionClosedException;
import org.xenfork.wire.ConnectionTimeoutException;
import org.xenfork.wire.ProtocolViolationException;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Every client operation and error path, against {@link FakeXenstored} over a real Unix socket. */
class XenstoreClientTest {

    private static final Duration TIMEOUT = Duration.ofSeconds(3);

    @TempDir
    Path dir;

    FakeXenstored fake;
    XenstoreClient xs;

    @BeforeEach
    void start() throws IOException {
        fake = FakeXenstored.start(dir);
        xs = XenstoreClient.connect(fake.socketPath(), TIMEOUT);
    }

    @AfterEach
    void stop() throws IOException {
        xs.close();
        fake.close();
    }

    /** A listener that queues events for the test thread. */
    static final class Events implements XenstoreWatch.Listener {
        final BlockingQueue<XsWatchEvent> queue = new LinkedBlockingQueue<>();

        @Override
        public void onEvent(XsWatchEvent event) {
            queue.add(event);
        }

        XsWatchEvent next() throws InterruptedException {
            XsWatchEvent e = queue.poll(5, TimeUnit.SECONDS);
            assertThat(e).as("a watch event within 5 s").isNotNull();
            return e;
        }

        void assertNoneFor(Duration d) throws InterruptedException {
            assertThat(queue.poll(d.toMillis(), TimeUnit.MILLISECONDS)).isNull();
        }
    }

    @Nested
    class ReadWrite {

        @Test
        void writeThenReadReturnsTheValue() throws IOException {
            xs.write("/vm/1/name", "guest-one");
            assertThat(xs.read("/vm/1/name")).contains("guest-one");
            assertThat(fake.get("/vm/1/name")).isEqualTo("guest-one");
        }

        @Test
        void readOfMissingNodeIsEmptyNotAnError() throws IOException {
            assertThat(xs.read("/no/such/node")).isEmpty();
            assertThat(xs.readBytes("/no/such/node")).isEmpty();
        }

        @Test
        void writeSendsPathNulValueWithoutTerminator() throws IOException {
            xs.write("/a", "xyz");
            FakeXenstored.Received w = fake.received(FakeXenstored.WRITE).get(0);
            assertThat(w.payload()).isEqualTo("/a\0xyz".getBytes(StandardCharsets.US_ASCII));
            assertThat(w.txId()).isZero();
        }

        @Test
        void valuesAreBinarySafe() throws IOException {
            byte[] value = {0, 1, (byte) 0xff, 0, 'x'};
            xs.write("/bin", value);
            assertThat(xs.readBytes("/bin")).hasValueSatisfying(v -> assertThat(v).isEqualTo(value));
        }

        @Test
        void emptyValueIsPresentButEmpty() throws IOException {
            xs.write("/empty", "");
            assertThat(xs.read("/empty")).contains("");
        }

        @Test
        void writeCreatesMissingParents() throws IOException {
            xs.write("/p/q/r", "1");
            assertThat(xs.read("/p/q")).contains("");
            assertThat(xs.directory("/p")).containsExactly("q");
        }

        @Test
        void relativePathsAreSentAsGiven() throws IOException {
            xs.write("data/x", "1");
            assertThat(fake.get("/local/domain/0/data/x")).isEqualTo("1");
            assertThat(fake.received(FakeXenstored.WRITE).get(0).firstString()).isEqualTo("data/x");
        }

        @Test
        void mkdirCreatesAnEmptyNodeAndToleratesExisting() throws IOException {
            xs.mkdir("/d/e");
            assertThat(xs.read("/d/e")).contains("");
            xs.write("/d/e", "kept");
            xs.mkdir("/d/e");
            assertThat(xs.read("/d/e")).contains("kept");
        }

        @Test
        void rmRemovesTheWholeSubtree() throws IOException {
            xs.write("/t/a/b", "1");
            xs.write("/t/a/c", "2");
            xs.write("/t/z", "3");
            xs.rm("/t/a");
            assertThat(xs.read("/t/a/b")).isEmpty();
            assertThat(xs.directory("/t")).containsExactly("z");
        }

        @Test
        void rmOfMissingNodeUnderMissingParentIsENOENT() {
            assertThatThrownBy(() -> xs.rm("/nothing/here"))
                    .isInstanceOfSatisfying(XenstoreException.class, e -> {
                        assertThat(e.operation()).isEqualTo(XsMessageType.RM);
                        assertThat(e.path()).isEqualTo("/nothing/here");
                        assertThat(e.errorName()).isEqualTo("ENOENT");
                        assertThat(e.error()).contains(XsError.ENOENT);
                        assertThat(e).hasMessage("XS_RM /nothing/here: ENOENT");
                    });
        }

        @Test
        void rmIfPresentTakesAMissingNodeAsRemoved() throws IOException {
            xs.rmIfPresent("/nothing/here");
            xs.write("/t/a", "1");
            xs.rmIfPresent("/t/a");
            assertThat(xs.read("/t/a")).isEmpty();
            assertThatThrownBy(() -> xs.rmIfPresent("/")).isInstanceOf(IllegalArgumentException.class);
        }

        @Test
        void rmOfRootIsRefusedBeforeSending() {
            assertThatThrownBy(() -> xs.rm("/")).isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("refusing XS_RM / : it would remove the whole store");
            assertThat(fake.received()).isEmpty();
        }
    }

    @Nested
    class Directory {

        @Test
        void listsChildNamesInOrder() throws IOException {
            xs.write("/dir/b", "");
            xs.write("/dir/a", "");
            xs.write("/dir/a/deeper", "");
            assertThat(xs.directory("/dir")).containsExactly("a", "b");
        }

        @Test
        void emptyDirectoryIsEmptyList() throws IOException {
            xs.mkdir("/lonely");
            assertThat(xs.directory("/lonely")).isEmpty();
        }

        @Test
        void missingDirectoryIsENOENT() {
            assertThatThrownBy(() -> xs.directory("/missing")).isInstanceOfSatisfying(XenstoreException.class, e -> {
                assertThat(e.operation()).isEqualTo(XsMessageType.DIRECTORY);
                assertThat(e.is(XsError.ENOENT)).isTrue();
                assertThat(e).hasMessage("XS_DIRECTORY /missing: ENOENT");
            });
        }

        @Test
        void shortListTakesOneRequest() throws IOException {
            xs.write("/one/x", "");
            assertThat(xs.directory("/one")).containsExactly("x");
            assertThat(fake.received(FakeXenstored.DIRECTORY)).hasSize(1);
            assertThat(fake.received(FakeXenstored.DIRECTORY_PART)).isEmpty();
            assertThat(fake.received(FakeXenstored.DIRECTORY).get(0).payload()).isEqualTo("/one\0".getBytes(StandardCharsets.US_ASCII));
        }

        @Test
        void listTooBigForOneReplyIsFetchedInParts() throws IOException {
            List<String> names = new ArrayList<>();
            for (int i = 0; i < 1500; i++) {
                names.add("domain-" + i); // ~13 KB of names: four parts
                fake.put("/big/" + names.get(i), "");
            }
            List<String> listed = xs.directory("/big");
            assertThat(listed).containsExactlyInAnyOrderElementsOf(names);
            assertThat(fake.received(FakeXenstored.DIRECTORY_PART)).hasSizeGreaterThanOrEqualTo(4);
            // Every part request names the path and a byte offset.
            assertThat(FakeXenstored.splitStrings(fake.received(FakeXenstored.DIRECTORY_PART).get(0).payload()))
                    .containsExactly("/big", "0");
        }

        @Test
        void partsRestartWhenTheNodeChangesInBetween() throws IOException {
            for (int i = 0; i < 1500; i++) {
                fake.put("/busy/child-" + i, "");
            }
            // Change /busy while the second part is delayed: its generation differs from the first
            // part's, so the pieces do not belong together and the client starts over.
            AtomicInteger parts = new AtomicInteger();
            XenstoreClient other = XenstoreClient.connect(fake.socketPath(), TIMEOUT);
            Thread changer = new Thread(() -> {
                while (fake.received(FakeXenstored.DIRECTORY_PART).size() < 2) {
                    Thread.onSpinWait();
                }
                try {
                    other.write("/busy/new-child", "");
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
                parts.set(1);
            });
            fake.injectOn(FakeXenstored.DIRECTORY_PART, new FakeXenstored.Fault.Delay(Duration.ZERO), // first part
                    new FakeXenstored.Fault.Delay(Duration.ofMillis(300))); // second part
            changer.start();
            List<String> listed = xs.directory("/busy");
            other.close();
            assertThat(parts.get()).isEqualTo(1);
            assertThat(listed).hasSize(1501).contains("new-child");
            // offsets went back to 0 at least twice: the first attempt and the restart
            long restarts = fake.received(FakeXenstored.DIRECTORY_PART).stream()
                    .filter(r -> FakeXenstored.splitStrings(r.payload()).get(1).equals("0")).count();
            assertThat(restarts).isEqualTo(2);
        }

        @Test
        void daemonWithoutDirectoryPartReportsE2BIGLikeLibxenstore() {
            for (int i = 0; i < 1500; i++) {
                fake.put("/old/child-" + i, "");
            }
            fake.disableDirectoryPart();
            assertThatThrownBy(() -> xs.directory("/old")).isInstanceOfSatisfying(XenstoreException.class, e -> {
                assertThat(e).hasMessage("XS_DIRECTORY /old: E2BIG");
                assertThat(e.getSuppressed()).singleElement().hasToString(
                        XenstoreException.class.getName() + ": XS_DIRECTORY_PART /old: ENOSYS");
            });
        }

        @Test
        void directoryPartErrorsOtherThanENOSYSAreReportedAsThemselves() {
            for (int i = 0; i < 1500; i++) {
                fake.put("/old/child-" + i, "");
            }
            fake.injectOn(FakeXenstored.DIRECTORY_PART, new FakeXenstored.Fault.ErrorReply("EACCES"));
            assertThatThrownBy(() -> xs.directory("/old")).isInstanceOfSatisfying(XenstoreException.class,
                    e -> assertThat(e).hasMessage("XS_DIRECTORY_PART /old: EACCES"));
        }

        @Test
        void nodeThatKeepsChangingIsGivenUpOn() {
            // Every second piece carries another generation: no two pieces ever fit together.
            for (int i = 0; i < 1500; i++) {
                fake.put("/churn/child-" + i, "");
            }
            fake.injectOn(FakeXenstored.DIRECTORY, new FakeXenstored.Fault.ErrorReply("E2BIG"));
            for (int i = 0; i < 2 * XsRequests.DIRECTORY_PART_RESTARTS; i++) {
                fake.injectOn(FakeXenstored.DIRECTORY_PART, new FakeXenstored.Fault.Delay(Duration.ZERO),
                        new FakeXenstored.Fault.ReplacePayload(FakeXenstored.strings("gen" + i, "child-0")));
            }
            assertThatThrownBy(() -> xs.directory("/churn")).isInstanceOfSatisfying(XenstoreException.class,
                    e -> assertThat(e).hasMessage("XS_DIRECTORY_PART /churn: EAGAIN (node kept changing over 8 attempts)"));
        }

        @Test
        void finalNulMayArriveInAPieceOfItsOwn() throws IOException {
            fake.inject(new FakeXenstored.Fault.ErrorReply("E2BIG"),
                    new FakeXenstored.Fault.ReplacePayload(FakeXenstored.strings("7", "a", "bc")),
                    new FakeXenstored.Fault.ReplacePayload(FakeXenstored.strings("7", "")));
            assertThat(xs.directory("/")).containsExactly("a", "bc");
            List<String> offsets = fake.received(FakeXenstored.DIRECTORY_PART).stream()
                    .map(r -> FakeXenstored.splitStrings(r.payload()).get(1)).toList();
            assertThat(offsets).containsExactly("0", "5");
        }

        @Test
        void emptyPieceIsProtocolError() {
            fake.inject(new FakeXenstored.Fault.ErrorReply("E2BIG"), new FakeXenstored.Fault.ReplacePayload(FakeXenstored.strings("1")));
            assertThatThrownBy(() -> xs.directory("/")).isInstanceOf(ProtocolViolationException.class)
                    .hasMessage("XS_DIRECTORY_PART / at offset 0 returned nothing");
        }
    }

    @Nested
    class Permissions {

        @Test
        void setThenGetRoundTrips() throws IOException {
            xs.write("/perm", "v");
            List<XsPermission> perms = List.of(XsPermission.none(0), XsPermission.read(5), XsPermission.both(7),
                    XsPermission.write(2));
            xs.setPermissions("/perm", perms);
            assertThat(fake.perms("/perm")).containsExactly("n0", "r5", "b7", "w2");
            assertThat(xs.getPermissions("/perm")).isEqualTo(perms);
        }

        @Test
        void setPermissionsSendsPathThenEachEntry() throws IOException {
            xs.write("/perm", "v");
            xs.setPermissions("/perm", List.of(XsPermission.both(3)));
            assertThat(fake.received(FakeXenstored.SET_PERMS).get(0).payload())
                    .isEqualTo("/perm\0b3\0".getBytes(StandardCharsets.US_ASCII));
        }

        @Test
        void emptyPermissionListIsRefusedBeforeSending() {
            assertThatThrownBy(() -> xs.setPermissions("/x", List.of())).isInstanceOf(IllegalArgumentException.class);
            assertThat(fake.received()).isEmpty();
        }

        @Test
        void getPermissionsOfMissingNodeIsENOENT() {
            assertThatThrownBy(() -> xs.getPermissions("/nope")).isInstanceOfSatisfying(XenstoreException.class,
                    e -> assertThat(e.operation()).isEqualTo(XsMessageType.GET_PERMS));
        }

        @Test
        void unprivilegedDomainGetsEACCES() throws IOException {
            fake.put("/secret", "s", "n0");
            fake.put("/readable", "r", "n0", "r5");
            fake.actAsDomain(5);
            assertThat(xs.read("/readable")).contains("r");
            assertThatThrownBy(() -> xs.read("/secret")).isInstanceOfSatisfying(XenstoreException.class, e -> {
                assertThat(e.operation()).isEqualTo(XsMessageType.READ);
                assertThat(e.is(XsError.EACCES)).isTrue();
            });
            assertThatThrownBy(() -> xs.write("/readable", "mine")).isInstanceOfSatisfying(XenstoreException.class,
                    e -> assertThat(e).hasMessage("XS_WRITE /readable: EACCES"));
            assertThatThrownBy(() -> xs.setPermissions("/readable", List.of(XsPermission.both(5))))
                    .isInstanceOfSatisfying(XenstoreException.class, e -> assertThat(e.is(XsError.EACCES)).isTrue());
        }

        @Test
        void malformedPermissionInReplyIsProtocolError() throws IOException {
            fake.put("/odd", "", "x9");
            assertThatThrownBy(() -> xs.getPermissions("/odd")).isInstanceOf(ProtocolViolationException.class)
                    .hasMessageContaining("x9");
        }
    }

    @Nested
    class DomainPath {

        @Test
        void returnsTheDomainsHome() throws IOException {
            assertThat(xs.getDomainPath(7)).isEqualTo("/local/domain/7");
            assertThat(fake.received(FakeXenstored.GET_DOMAIN_PATH).get(0).payload())
                    .isEqualTo("7\0".getBytes(StandardCharsets.US_ASCII));
        }

        @Test
        void domidOutOfRangeIsRefusedBeforeSending() {
            assertThatThrownBy(() -> xs.getDomainPath(-1)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> xs.getDomainPath(65536)).isInstanceOf(IllegalArgumentException.class);
            assertThat(fake.received()).isEmpty();
        }

        @Test
        void errorCarriesTheDomidAsPath() {
            fake.inject(new FakeXenstored.Fault.ErrorReply("EINVAL"));
            assertThatThrownBy(() -> xs.getDomainPath(3)).hasMessage("XS_GET_DOMAIN_PATH 3: EINVAL");
        }
    }

    @Nested
    class Transactions {

        @Test
        void commitMakesWritesVisibleAndOpsCarryTheTxId() throws IOException {
            try (XenstoreTransaction tx = xs.startTransaction()) {
                tx.write("/tx/a", "1");
                assertThat(fake.get("/tx/a")).as("invisible before commit").isNull();
                assertThat(tx.read("/tx/a")).contains("1");
                tx.commit();
                assertThat(tx.isActive()).isFalse();
                FakeXenstored.Received w = fake.received(FakeXenstored.WRITE).get(0);
                assertThat(w.txId()).isEqualTo(tx.id()).isNotZero();
                FakeXenstored.Received end = fake.received(FakeXenstored.TRANSACTION_END).get(0);
                assertThat(end.txId()).isEqualTo(tx.id());
                assertThat(end.payload()).isEqualTo("T\0".getBytes(StandardCharsets.US_ASCII));
            }
            assertThat(fake.get("/tx/a")).isEqualTo("1");
            assertThat(fake.received(FakeXenstored.TRANSACTION_START).get(0).payload()).isEqualTo(new byte[] {0});
        }

        @Test
        void everyOperationWorksInsideATransaction() throws IOException {
            xs.write("/in/old", "o");
            try (XenstoreTransaction tx = xs.startTransaction()) {
                tx.write("/in/new", "n".getBytes(StandardCharsets.US_ASCII));
                tx.mkdir("/in/dir");
                tx.rm("/in/old");
                assertThat(tx.directory("/in")).containsExactly("dir", "new");
                tx.setPermissions("/in/new", List.of(XsPermission.read(4)));
                assertThat(tx.getPermissions("/in/new")).containsExactly(XsPermission.read(4));
                assertThat(tx.readBytes("/in/new")).isPresent();
                assertThat(tx.read("/in/old")).isEmpty();
                tx.commit();
            }
            assertThat(xs.directory("/in")).containsExactly("dir", "new");
            // Everything between START and END carried the transaction's id in the header.
            List<FakeXenstored.Received> all = fake.received();
            int start = indexOfType(all, FakeXenstored.TRANSACTION_START);
            int end = indexOfType(all, FakeXenstored.TRANSACTION_END);
            assertThat(end - start).isEqualTo(9);
            assertThat(all.subList(start + 1, end + 1)).allSatisfy(r -> assertThat(r.txId()).isEqualTo(all.get(start + 1).txId()).isNotZero());
        }

        private int indexOfType(List<FakeXenstored.Received> all, int type) {
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).type() == type) {
                    return i;
                }
            }
            throw new AssertionError("no request of type " + type);
        }

        @Test
        void closeWithoutCommitAborts() throws IOException {
            try (XenstoreTransaction tx = xs.startTransaction()) {
                tx.write("/gone", "x");
            }
            assertThat(fake.get("/gone")).isNull();
            assertThat(fake.received(FakeXenstored.TRANSACTION_END).get(0).payload())
                    .isEqualTo("F\0".getBytes(StandardCharsets.US_ASCII));
        }

        @Test
        void endedTransactionRefusesFurtherUse() throws IOException {
            XenstoreTransaction tx = xs.startTransaction();
            tx.abort();
            assertThatThrownBy(() -> tx.read("/a")).isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(tx::commit).isInstanceOf(IllegalStateException.class);
            tx.close(); // no second END
            assertThat(fake.received(FakeXenstored.TRANSACTION_END)).hasSize(1);
        }

        @Test
        void conflictingCommitIsEAGAIN() throws IOException {
            xs.write("/c", "0");
            XenstoreTransaction tx = xs.startTransaction();
            assertThat(tx.read("/c")).contains("0");
            xs.write("/c", "changed outside");
            tx.write("/c", "from tx");
            assertThatThrownBy(tx::commit).isInstanceOfSatisfying(XenstoreException.class, e -> {
                assertThat(e.operation()).isEqualTo(XsMessageType.TRANSACTION_END);
                assertThat(e.path()).isNull();
                assertThat(e.is(XsError.EAGAIN)).isTrue();
                assertThat(e).hasMessage("XS_TRANSACTION_END: EAGAIN");
            });
            assertThat(tx.isActive()).isFalse();
            assertThat(fake.get("/c")).isEqualTo("changed outside");
        }

        @Test
        void helperRetriesTheWholeBodyOnEAGAIN() throws IOException {
            fake.failNextCommits(3);
            AtomicInteger runs = new AtomicInteger();
            String result = xs.transaction(tx -> {
                runs.incrementAndGet();
                tx.write("/retry", "run " + runs.get());
                return "done";
            });
            assertThat(result).isEqualTo("done");
            assertThat(runs).hasValue(4);
            assertThat(fake.get("/retry")).isEqualTo("run 4");
            assertThat(fake.received(FakeXenstored.TRANSACTION_START)).hasSize(4);
        }

        @Test
        void helperGivesUpAfterMaxAttempts() {
            fake.failNextCommits(100);
            AtomicInteger runs = new AtomicInteger();
            assertThatThrownBy(() -> xs.transaction(3, tx -> {
                runs.incrementAndGet();
                tx.write("/never", "x");
                return null;
            })).isInstanceOfSatisfying(XenstoreException.class, e -> {
                assertThat(e.is(XsError.EAGAIN)).isTrue();
                assertThat(e).hasMessage("XS_TRANSACTION_END: EAGAIN (gave up after 3 attempts)");
                assertThat(e.getCause()).isInstanceOf(XenstoreException.class);
            });
            assertThat(runs).hasValue(3);
            assertThat(fake.get("/never")).isNull();
        }

        @Test
        void helperRetriesEAGAINRaisedInsideTheBody() throws IOException {
            fake.inject(new FakeXenstored.Fault.Delay(Duration.ZERO), new FakeXenstored.Fault.ErrorReply("EAGAIN"));
            AtomicInteger runs = new AtomicInteger();
            xs.transaction(tx -> {
                runs.incrementAndGet();
                return tx.read("/whatever");
            });
            assertThat(runs).hasValue(2);
            // the failed attempt was aborted
            assertThat(fake.received(FakeXenstored.TRANSACTION_END).get(0).payload())
                    .isEqualTo("F\0".getBytes(StandardCharsets.US_ASCII));
        }

        @Test
        void otherErrorsAbortAndAreNotRetried() {
            AtomicInteger runs = new AtomicInteger();
            assertThatThrownBy(() -> xs.transaction(tx -> {
                runs.incrementAndGet();
                return tx.directory("/missing");
            })).isInstanceOfSatisfying(XenstoreException.class, e -> assertThat(e.is(XsError.ENOENT)).isTrue());
            assertThat(runs).hasValue(1);
            assertThat(fake.received(FakeXenstored.TRANSACTION_END)).hasSize(1);
        }

        @Test
        void bodyExceptionAbortsAndPropagates() {
            assertThatThrownBy(() -> xs.transaction(tx -> {
                tx.write("/half", "x");
                throw new IllegalStateException("body failed");
            })).isInstanceOf(IllegalStateException.class).hasMessage("body failed");
            assertThat(fake.get("/half")).isNull();
            assertThat(fake.received(FakeXenstored.TRANSACTION_END).get(0).payload())
                    .isEqualTo("F\0".getBytes(StandardCharsets.US_ASCII));
        }

        @Test
        void bodyMayEndTheTransactionItself() throws IOException {
            xs.transaction(tx -> {
                tx.abort();
                return null;
            });
            assertThat(fake.received(FakeXenstored.TRANSACTION_END)).hasSize(1);
        }

        @Test
        void unknownTransactionIdIsENOENT() throws IOException {
            XenstoreTransaction tx = xs.startTransaction();
            fake.inject(new FakeXenstored.Fault.ErrorReply("ENOENT"));
            assertThatThrownBy(() -> tx.write("/x", "y")).isInstanceOfSatisfying(XenstoreException.class,
                    e -> assertThat(e).hasMessage("XS_WRITE /x: ENOENT"));
        }

        @Test
        void transactionIdZeroOrNonNumericIsProtocolError() {
            for (String bad : List.of("0", "abc", "-1", "4294967296", "")) {
                fake.inject(new FakeXenstored.Fault.ReplacePayload(FakeXenstored.strings(bad)));
                assertThatThrownBy(xs::startTransaction).as(bad).isInstanceOf(ProtocolViolationException.class)
                        .hasMessageContaining("XS_TRANSACTION_START answered an invalid id");
            }
        }

        @Test
        void largestUnsignedTransactionIdIsAccepted() throws IOException {
            fake.inject(new FakeXenstored.Fault.ReplacePayload(FakeXenstored.strings("4294967295")));
            XenstoreTransaction tx = xs.startTransaction();
            assertThat(Integer.toUnsignedLong(tx.id())).isEqualTo(4294967295L);
        }

        @Test
        void maxAttemptsMustBePositive() {
            assertThatThrownBy(() -> xs.transaction(0, tx -> null)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Nested
    class Watches {

        @Test
        void registrationFiresOnceThenChangesFire() throws Exception {
            Events events = new Events();
            try (XenstoreWatch w = xs.watch("/w", "tok", events)) {
                assertThat(events.next()).isEqualTo(new XsWatchEvent("/w", "tok"));
                xs.write("/w/child", "1");
                assertThat(events.next()).isEqualTo(new XsWatchEvent("/w/child", "tok"));
                xs.write("/elsewhere", "1");
                events.assertNoneFor(Duration.ofMillis(200));
                assertThat(w.path()).isEqualTo("/w");
                assertThat(w.token()).isEqualTo("tok");
            }
            assertThat(fake.received(FakeXenstored.WATCH).get(0).payload())
                    .isEqualTo("/w\0tok\0".getBytes(StandardCharsets.US_ASCII));
        }

        @Test
        void unwatchStopsEvents() throws Exception {
            Events events = new Events();
            XenstoreWatch w = xs.watch("/u", events);
            events.next();
            w.close();
            w.close(); // idempotent: one XS_UNWATCH
            xs.write("/u", "x");
            events.assertNoneFor(Duration.ofMillis(200));
            assertThat(fake.received(FakeXenstored.UNWATCH)).hasSize(1);
            assertThat(FakeXenstored.splitStrings(fake.received(FakeXenstored.UNWATCH).get(0).payload()))
                    .containsExactly("/u", w.token());
        }

        @Test
        void changesByAnotherConnectionFire() throws Exception {
            Events events = new Events();
            xs.watch("/shared", events);
            events.next();
            try (XenstoreClient other = XenstoreClient.connect(fake.socketPath(), TIMEOUT)) {
                other.write("/shared/x", "1");
                other.rm("/shared");
            }
            assertThat(events.next().path()).isEqualTo("/shared/x");
            assertThat(events.next().path()).isEqualTo("/shared");
        }

        @Test
        void eventsAreRoutedByToken() throws Exception {
            Events a = new Events();
            Events b = new Events();
            xs.watch("/a", a);
            xs.watch("/b", b);
            a.next();
            b.next();
            xs.write("/b/1", "");
            assertThat(b.next().path()).isEqualTo("/b/1");
            a.assertNoneFor(Duration.ofMillis(200));
        }

        @Test
        void specialPathsCanBeWatched() throws Exception {
            Events events = new Events();
            xs.watch("@releaseDomain", events);
            assertThat(events.next().path()).isEqualTo("@releaseDomain");
            fake.fire("@releaseDomain");
            assertThat(events.next().path()).isEqualTo("@releaseDomain");
        }

        @Test
        void listenerMayCallTheClient() throws Exception {
            xs.write("/cb", "initial");
            BlockingQueue<String> seen = new LinkedBlockingQueue<>();
            xs.watch("/cb", event -> {
                try {
                    seen.add(xs.read(event.path()).orElse("<gone>"));
                } catch (IOException e) {
                    seen.add("error: " + e);
                }
            });
            assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("initial");
            xs.write("/cb", "second");
            assertThat(seen.poll(5, TimeUnit.SECONDS)).isEqualTo("second");
        }

        @Test
        void throwingListenerDoesNotStopDelivery() throws Exception {
            Events events = new Events();
            xs.watch("/bad", event -> {
                throw new IllegalStateException("listener bug");
            });
            xs.watch("/good", events);
            events.next();
            xs.write("/bad", "1");
            xs.write("/good", "1");
            assertThat(events.next().path()).isEqualTo("/good");
        }

        @Test
        void duplicateTokenIsRefused() throws IOException {
            xs.watch("/one", "same", e -> { });
            assertThatThrownBy(() -> xs.watch("/two", "same", e -> { })).isInstanceOf(IllegalArgumentException.class);
            assertThat(fake.received(FakeXenstored.WATCH)).hasSize(1);
        }

        @Test
        void refusedWatchFreesItsToken() throws Exception {
            fake.inject(new FakeXenstored.Fault.ErrorReply("ENOSPC"));
            assertThatThrownBy(() -> xs.watch("/q", "t", e -> { })).isInstanceOfSatisfying(XenstoreException.class,
                    e -> assertThat(e).hasMessage("XS_WATCH /q: ENOSPC"));
            Events events = new Events();
            xs.watch("/q", "t", events);
            events.next();
        }

        @Test
        void unwatchOfUnknownWatchIsENOENT() throws Exception {
            XenstoreWatch w = xs.watch("/z", e -> { });
            fake.inject(new FakeXenstored.Fault.ErrorReply("ENOENT"));
            assertThatThrownBy(w::close).isInstanceOfSatisfying(XenstoreException.class,
                    e -> assertThat(e.operation()).isEqualTo(XsMessageType.UNWATCH));
        }

        @Test
        void badWatchPathsAndTokensAreRefused() {
            assertThatThrownBy(() -> xs.watch("/bad path", e -> { })).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> xs.watch("/ok", "", e -> { })).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> xs.watch("/ok", "nul\0inside", e -> { })).isInstanceOf(IllegalArgumentException.class);
            assertThat(fake.received()).isEmpty();
        }

        @Test
        void aBlockedListenerOverflowingTheQueueClosesTheConnectionLoudly() throws Exception {
            CountDownLatch inListener = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            xs.watch("@releaseDomain", e -> {
                inListener.countDown();
                try {
                    release.await();
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            });
            try {
                assertThat(inListener.await(5, TimeUnit.SECONDS)).isTrue();
                // One more than the queue holds, behind the listener that is stuck on the first event.
                for (int i = 0; i <= XenstoreClient.WATCH_QUEUE_CAPACITY; i++) {
                    fake.fire("@releaseDomain");
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (xs.isOpen() && System.nanoTime() < deadline) {
                    Thread.sleep(5);
                }
                assertThatThrownBy(() -> xs.read("/x")).isInstanceOfSatisfying(ConnectionClosedException.class, e -> {
                    assertThat(e).hasMessageContaining("XS_READ /x: xenstore connection (unix socket " + fake.socketPath() + ") closed: ")
                            .hasMessageContaining("(XenstoreClient.WATCH_QUEUE_CAPACITY = 4096); a listener is too slow or blocked");
                    assertThat(e.operation()).isEqualTo("XS_READ /x");
                });
            } finally {
                release.countDown();
            }
        }

        @Test
        void watchEventWithoutTokenClosesTheConnection() {
            fake.inject(new FakeXenstored.Fault.RawEventBeforeReply("/only-a-path\0".getBytes(StandardCharsets.US_ASCII)));
            assertThatThrownBy(() -> xs.read("/x")).isInstanceOf(ConnectionClosedException.class)
                    .hasRootCauseMessage("XS_WATCH_EVENT without path and token: XS_WATCH_EVENT req=0 tx=0 \"/only-a-path\\0\"");
        }

        @Test
        void watchEventNotNulTerminatedClosesTheConnection() {
            fake.inject(new FakeXenstored.Fault.RawEventBeforeReply("/p\0tok".getBytes(StandardCharsets.US_ASCII)));
            assertThatThrownBy(() -> xs.read("/x")).isInstanceOf(ConnectionClosedException.class)
                    .hasRootCauseInstanceOf(ProtocolViolationException.class)
                    .hasRootCauseMessage("payload is not NUL-terminated: \"/p\\0tok\"");
        }
    }

    @Nested
    class Faults {

        @Test
        void garbageHeaderIsProtocolErrorAndClosesTheConnection() {
            fake.inject(new FakeXenstored.Fault.GarbageHeader());
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOf(ConnectionClosedException.class)
                    .hasCauseInstanceOf(ProtocolViolationException.class)
                    .hasRootCauseMessage("unknown message type 3735928559 in header efbeadde" + hexOfReqId(1) + "0000000000000000");
            assertThat(xs.isOpen()).isFalse();
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOf(ConnectionClosedException.class);
        }

        private String hexOfReqId(int reqId) {
            return String.format("%02x%02x%02x%02x", reqId & 0xff, (reqId >> 8) & 0xff, (reqId >> 16) & 0xff, reqId >>> 24);
        }

        @Test
        void oversizeLengthIsRefusedWithoutAllocating() {
            fake.inject(new FakeXenstored.Fault.OversizeLen(XsWire.PAYLOAD_MAX + 1));
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOf(ConnectionClosedException.class)
                    .hasRootCauseInstanceOf(ProtocolViolationException.class)
                    .hasRootCauseMessage("XS_READ header announces 4097 payload bytes, more than XENSTORE_PAYLOAD_MAX (4096)");
        }

        @Test
        void hugeUnsignedLengthIsRefused() {
            fake.inject(new FakeXenstored.Fault.OversizeLen(0xffff_ffffL));
            assertThatThrownBy(() -> xs.read("/a")).hasRootCauseMessage(
                    "XS_READ header announces 4294967295 payload bytes, more than XENSTORE_PAYLOAD_MAX (4096)");
        }

        @Test
        void replySplitAcrossManyReadsIsReassembled() throws IOException {
            xs.write("/split", "a value long enough to need several pieces");
            fake.inject(new FakeXenstored.Fault.SplitReply(1));
            assertThat(xs.read("/split")).contains("a value long enough to need several pieces");
            fake.inject(new FakeXenstored.Fault.SplitReply(5));
            assertThat(xs.read("/split")).contains("a value long enough to need several pieces");
        }

        @Test
        void disconnectMidRequestFailsItAndLaterCalls() {
            fake.inject(new FakeXenstored.Fault.Disconnect());
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOf(ConnectionClosedException.class)
                    .hasMessageContaining("xenstored closed the connection");
            assertThatThrownBy(() -> xs.write("/a", "b")).isInstanceOf(ConnectionClosedException.class);
        }

        @Test
        void truncatedReplyIsProtocolError() throws IOException {
            xs.write("/t", "0123456789");
            fake.inject(new FakeXenstored.Fault.Truncated());
            assertThatThrownBy(() -> xs.read("/t")).isInstanceOf(ConnectionClosedException.class)
                    .hasRootCauseInstanceOf(ProtocolViolationException.class)
                    .hasRootCauseMessage("connection ended inside a message: got 5 of 10 payload bytes");
        }

        @Test
        void slowReplyTimesOutAndTheConnectionStaysUsable() throws IOException {
            try (XenstoreClient quick = XenstoreClient.connect(fake.socketPath(), Duration.ofMillis(500))) {
                quick.write("/slow", "v");
                fake.inject(new FakeXenstored.Fault.Delay(Duration.ofMillis(800)));
                long start = System.nanoTime();
                assertThatThrownBy(() -> quick.read("/slow")).isInstanceOfSatisfying(ConnectionTimeoutException.class, e -> {
                    assertThat(e).hasMessage("XS_READ /slow: no reply from xenstored on unix socket " + fake.socketPath()
                            + " within 500 ms");
                    assertThat(e.peer()).isEqualTo("xenstored on unix socket " + fake.socketPath());
                    assertThat(e.operation()).isEqualTo("XS_READ /slow");
                    assertThat(e.timeout()).isEqualTo(Duration.ofMillis(500));
                });
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofMillis(750));
                // Sent while the fake still sleeps: the late reply to the abandoned read arrives
                // first, while this write is pending, and must not be taken for the write's.
                quick.write("/slow", "w");
                assertThat(quick.read("/slow")).contains("w");
                assertThat(quick.isOpen()).isTrue();
            }
        }

        @Test
        void watchEventBeforeReplyIsNotMistakenForIt() throws Exception {
            Events events = new Events();
            xs.watch("/ev", "evtok", events);
            events.next();
            xs.write("/ev/value", "real");
            events.next();
            // The event even carries the request's req_id; only its type tells it apart.
            fake.inject(new FakeXenstored.Fault.WatchEventBeforeReply("/ev/other", "evtok"));
            assertThat(xs.read("/ev/value")).contains("real");
            assertThat(events.next()).isEqualTo(new XsWatchEvent("/ev/other", "evtok"));
        }

        @Test
        void ownWriteEventPrecedesTheAckAndBothArrive() throws Exception {
            Events events = new Events();
            xs.watch("/own", events);
            events.next();
            xs.write("/own", "x"); // the fake, like xenstored's do_write, sends the event before the ack
            assertThat(events.next().path()).isEqualTo("/own");
        }

        @Test
        void replyOfWrongTypeIsProtocolError() {
            fake.inject(new FakeXenstored.Fault.WrongType(FakeXenstored.DIRECTORY));
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOf(ProtocolViolationException.class)
                    .hasMessageContaining("reply to XS_READ").hasMessageContaining("has type XS_DIRECTORY");
            assertThat(xs.isOpen()).isFalse();
        }

        @Test
        void strayReplyIsDiscarded() throws IOException {
            xs.write("/s", "mine");
            fake.inject(new FakeXenstored.Fault.StrayReply());
            assertThat(xs.read("/s")).contains("mine");
        }

        @Test
        void unknownErrorNameIsKeptAsSent() {
            fake.inject(new FakeXenstored.Fault.ErrorReply("ENOTSUP"));
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOfSatisfying(XenstoreException.class, e -> {
                assertThat(e.errorName()).isEqualTo("ENOTSUP");
                assertThat(e.error()).isEmpty();
            });
        }

        @Test
        void malformedErrorReplyIsProtocolError() {
            fake.inject(new FakeXenstored.Fault.ErrorReply("not an errno"));
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOf(ProtocolViolationException.class)
                    .hasMessageContaining("not an error name");
        }

        @Test
        void aMalformedReplyBodyNamesRequestAndPeerAndFailsThatRequestOnly() throws IOException {
            xs.write("/m", "v");
            fake.inject(new FakeXenstored.Fault.ReplacePayload("a\0b".getBytes(StandardCharsets.US_ASCII)));
            assertThatThrownBy(() -> xs.directory("/")).isInstanceOfSatisfying(ProtocolViolationException.class, e -> {
                assertThat(e).hasMessage("XS_DIRECTORY /: payload is not NUL-terminated: \"a\\0b\"");
                assertThat(e.peer()).isEqualTo("xenstored on unix socket " + fake.socketPath());
                assertThat(e.operation()).isEqualTo("XS_DIRECTORY /");
            });
            assertThat(xs.isOpen()).isTrue();
            assertThat(xs.read("/m")).contains("v");
        }
    }

    @Nested
    class Limits {

        @Test
        void invalidPathsNeverReachTheServer() {
            for (String bad : List.of("", "/a//b", "/a/", "/a b", "/a\0b", "@special", "/ä", "a".repeat(XsWire.REL_PATH_MAX + 1))) {
                assertThatThrownBy(() -> xs.read(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> xs.write(bad, "v")).as(bad).isInstanceOf(IllegalArgumentException.class);
            }
            assertThat(fake.received()).isEmpty();
        }

        @Test
        void payloadAtTheLimitIsSentAndOneMoreIsRefused() throws IOException {
            String path = "/big";
            byte[] fits = new byte[XsWire.PAYLOAD_MAX - path.length() - 1];
            xs.write(path, fits);
            assertThat(fake.received(FakeXenstored.WRITE).get(0).payload()).hasSize(XsWire.PAYLOAD_MAX);
            assertThatThrownBy(() -> xs.write(path, new byte[fits.length + 1]))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("XS_WRITE payload of 4097 bytes exceeds XENSTORE_PAYLOAD_MAX (4096)");
            assertThat(fake.received(FakeXenstored.WRITE)).hasSize(1);
        }

        @Test
        void longestAbsolutePathIsAccepted() throws IOException {
            String longest = "/" + "x".repeat(XsWire.ABS_PATH_MAX - 1);
            xs.write(longest, "v");
            assertThat(xs.read(longest)).contains("v");
        }
    }

    @Nested
    class ThreadsAndLifecycle {

        @Test
        void concurrentCallersGetTheirOwnReplies() throws Exception {
            int threads = 8;
            int perThread = 60;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new ArrayList<>();
                CountDownLatch go = new CountDownLatch(1);
                for (int t = 0; t < threads; t++) {
                    int id = t;
                    done.add(pool.submit(() -> {
                        go.await();
                        for (int i = 0; i < perThread; i++) {
                            String path = "/conc/" + id + "/" + i;
                            xs.write(path, id + ":" + i);
                            assertThat(xs.read(path)).contains(id + ":" + i);
                        }
                        return null;
                    }));
                }
                go.countDown();
                for (Future<?> f : done) {
                    f.get(60, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            // Every request had its own req_id.
            assertThat(fake.received().stream().map(FakeXenstored.Received::reqId).distinct().count())
                    .isEqualTo(fake.received().size());
        }

        @Test
        void closeFailsAPendingRequestPromptly() throws Exception {
            fake.inject(new FakeXenstored.Fault.Delay(Duration.ofSeconds(2)));
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                Future<Optional<String>> pending = pool.submit(() -> xs.read("/p"));
                while (fake.received().isEmpty()) {
                    Thread.sleep(5);
                }
                long start = System.nanoTime();
                xs.close();
                assertThatThrownBy(() -> pending.get(1, TimeUnit.SECONDS)).hasCauseInstanceOf(ConnectionClosedException.class)
                        .cause().hasMessageContaining("closed by the client");
                assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(1));
            } finally {
                pool.shutdownNow();
            }
        }

        @Test
        void closeIsIdempotentAndStopsThreadsAndTheServerSeesTheDisconnect() throws Exception {
            // connect() returns once the kernel accepted; the fake's accept thread registers it a moment later
            long registered = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (System.nanoTime() < registered && fake.connectionCount() == 0) {
                Thread.sleep(5);
            }
            assertThat(fake.connectionCount()).isEqualTo(1);
            xs.close();
            xs.close();
            assertThat(xs.isOpen()).isFalse();
            assertThatThrownBy(() -> xs.read("/a")).isInstanceOf(ConnectionClosedException.class)
                    .hasMessageContaining("closed by the client");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (System.nanoTime() < deadline && (fake.connectionCount() > 0 || clientThreadsAlive())) {
                Thread.sleep(10);
            }
            assertThat(fake.connectionCount()).isZero();
            assertThat(clientThreadsAlive()).isFalse();
        }

        private boolean clientThreadsAlive() {
            return Thread.getAllStackTraces().keySet().stream()
                    .anyMatch(t -> t.isAlive() && t.getName().contains(fake.socketPath().toString())
                            && (t.getName().startsWith("xenstore-reader") || t.getName().startsWith("xenstore-watch")));
        }

        @Test
        void describeNamesTheTransport() {
            assertThat(xs.describe()).isEqualTo("unix socket " + fake.socketPath());
            assertThat(xs.timeout()).isEqualTo(TIMEOUT);
        }
    }

    @Nested
    class Connecting {

        @Test
        void noCandidateExistsListsEveryPathTried() {
            Path a = dir.resolve("nope/socket");
            Path b = dir.resolve("nope2/socket");
            Path dev = dir.resolve("xenbus");
            assertThatThrownBy(() -> XenstoreClient.connect(List.of(a, b), dev, TIMEOUT))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("no xenstore to connect to: none of " + a + ", " + b + ", " + dev + " exists");
        }

        @Test
        void firstExistingSocketIsUsed() throws IOException {
            try (XenstoreClient c = XenstoreClient.connect(List.of(dir.resolve("missing"), fake.socketPath()),
                    dir.resolve("xenbus"), TIMEOUT)) {
                assertThat(c.describe()).isEqualTo("unix socket " + fake.socketPath());
                assertThat(c.getDomainPath(1)).isEqualTo("/local/domain/1");
            }
        }

        @Test
        void existingSocketWithNobodyListeningNamesThePath() throws IOException {
            Path dead = dir.resolve("dead");
            Files.createFile(dead);
            assertThatThrownBy(() -> XenstoreClient.connect(dead))
                    .isInstanceOf(IOException.class).hasMessageStartingWith("cannot connect to xenstored socket " + dead);
        }

        @Test
        void nonPositiveTimeoutIsRefused() {
            assertThatThrownBy(() -> XenstoreClient.connect(fake.socketPath(), Duration.ZERO))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }
}
