package org.xenfork.bench;

import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.SaveError;

/**
 * Benchmark-only control: the cost of a jnr-ffi call that does no syscall (libc's
 * {@code labs}), bound as LinuxSeam binds ioctl ({@code @SaveError}).
 * Separates "Java to libc" from "libc to the kernel" in the bare-ioctl figure.
 */
final class FfiControl {
    public interface Libc {
        @SaveError
        long labs(long x);
    }

    static final Libc SAVE_ERROR = LibraryLoader.create(Libc.class).load("c");

    private FfiControl() {
    }
}
