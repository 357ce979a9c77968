package org.xenfork.testfixtures;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The one way this module's test data is read: as classpath resources beside these classes
 * ({@code src/main/resources/org/xenfork/testfixtures/}), so a test finds them in any checkout and
 * in the jar, and never searches the file system. A missing resource is an error naming it, never
 * a skipped test: the data is what the tests check against.
 */
final class Resources {
    private Resources() {
    }

    /** The bytes of {@code name}, relative to this package, e.g. {@code abi-data/layouts-4.17.jsonl}. */
    static byte[] read(String name) {
        try (InputStream in = Resources.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("test resource missing: " + path(name)
                        + " (test-fixtures/src/main/resources; its README says where the data comes from)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading test resource " + path(name), e);
        }
    }

    private static String path(String name) {
        return Resources.class.getPackageName().replace('.', '/') + "/" + name;
    }
}
