package org.xenfork.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import org.xenfork.abi.XenRelease;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.hvmcontext.HvmContextException;
import org.xenfork.privcmd.HypercallBuffers;

/**
 * Where an {@code hvm-context} command reads a context: a file, or a domain
 * ({@code XEN_DOMCTL_gethvmcontext}). An argument that names an existing file,
 * or contains a '/', is a file ({@code ./web} when a domain is also called
 * {@code web}); anything else is a domain id or name ({@link DomainArgument}).
 */
final class HvmContextSource {
    /**
     * The rules a file is read with unless {@code --xen} says otherwise: the rig's
     * release. Among the supported releases only the LAPIC record differs (32 bytes
     * from 4.21), and reading such a file with 4.17 rules says to pass {@code --xen}.
     */
    static final XenRelease FILE_RELEASE = XenRelease.parse("4.17");

    /** The most a context file can be: what {@code Hypervisor.setHvmContext} can send (privcmd's buffer bound). */
    static final int MAX_BYTES = HypercallBuffers.MAX_BYTES;

    private final String text;
    private final Path file;
    private final DomainArgument domain;

    private HvmContextSource(String text, Path file, DomainArgument domain) {
        this.text = text;
        this.file = file;
        this.domain = domain;
    }

    /** A file or a domain; a domain id is checked here, before any device opens (exit 2). */
    static HvmContextSource parse(String text, String verb) {
        Path p = Path.of(text);
        if (Files.exists(p) || text.contains("/")) {
            return new HvmContextSource(text, p, null);
        }
        return new HvmContextSource(text, null, DomainArgument.parse(text, verb));
    }

    boolean isDomain() {
        return domain != null;
    }

    Path file() {
        return file;
    }

    DomainArgument domain() {
        return domain;
    }

    /** The file's bytes (exit 2 if it cannot be read); read before a backend opens, so a bad file changes nothing. */
    byte[] fileBytes() {
        return readFile(file);
    }

    /** A context file's bytes, bounded by {@link #MAX_BYTES}; exit 2 if it cannot be read. */
    static byte[] readFile(Path file) {
        return InputFiles.read(file, MAX_BYTES, "an HVM context file, as hvm-context get writes it");
    }

    /** The release a file is read with when no hypervisor is asked: {@code --xen}, else {@link #FILE_RELEASE}. */
    static XenRelease fileRelease(XenforkCommand root) {
        return root.xen == null ? FILE_RELEASE : XenRelease.parse(root.xen);
    }

    /** Reads the context: from the file, or from the domain through {@code b} (which must be open then). */
    HvmContext read(Backend b, XenRelease release) {
        if (domain == null) {
            return parse(fileBytes(), release, file.toString());
        }
        int d = domain.resolve(b);
        return parse(b.xen().hvmContext(d), release, "domain " + d + "'s HVM context");
    }

    /** Parses, mapping a refusal to exit 2 with the source's name in front. */
    static HvmContext parse(byte[] bytes, XenRelease release, String what) {
        try {
            return HvmContext.parse(bytes, release);
        } catch (HvmContextException e) {
            throw new UsageException(what + ": " + e.getMessage());
        }
    }

    @Override
    public String toString() {
        return domain == null ? text : "domain " + text;
    }
}
