package org.xenfork.xenstore;

import java.nio.ByteOrder;

/**
 * Numbers of the xenstore wire protocol, as {@code xen/include/public/io/xs_wire.h}
 * (Xen 4.17) defines them. {@code XsWireHeaderTest} compiles that header with gcc
 * and checks every value here against it.
 */
public final class XsWire {

    /** {@code sizeof(struct xsd_sockmsg)}: four {@code uint32_t} (type, req_id, tx_id, len). */
    public static final int HEADER_SIZE = 16;

    /**
     * {@code XENSTORE_PAYLOAD_MAX}: the largest payload either side may send.
     * xs_wire.h: "Violating this is very bad" — xenstored drops a connection that
     * exceeds it, and we refuse a reply header announcing more (never allocate it).
     */
    public static final int PAYLOAD_MAX = 4096;

    /** {@code XENSTORE_ABS_PATH_MAX}: longest absolute path ("violating these just gets you an error back"). */
    public static final int ABS_PATH_MAX = 3072;

    /** {@code XENSTORE_REL_PATH_MAX}: longest relative path (relative to the caller's /local/domain/N). */
    public static final int REL_PATH_MAX = 2048;

    /**
     * The header is a C struct of host-endian {@code uint32_t}: xenstored writes it
     * with {@code memcpy}, the kernel's xenbus driver too. Xen runs on little-endian
     * x86 and Arm, so in practice this is little-endian; we follow the host as C does.
     */
    public static final ByteOrder BYTE_ORDER = ByteOrder.nativeOrder();

    private XsWire() {
    }
}
