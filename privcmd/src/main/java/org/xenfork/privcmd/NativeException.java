package org.xenfork.privcmd;

/** A native call that failed with an errno: {@code open(/dev/xen/privcmd): ENOENT (2)}. */
public class NativeException extends Exception {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int errno;

    public NativeException(String call, int errno) {
        super(call + ": " + Errno.describe(errno));
        this.call = call;
        this.errno = errno;
    }

    public String call() {
        return call;
    }

    public int errno() {
        return errno;
    }
}
