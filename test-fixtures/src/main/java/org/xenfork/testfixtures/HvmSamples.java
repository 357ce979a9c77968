package org.xenfork.testfixtures;

import java.nio.charset.StandardCharsets;

/**
 * HVM contexts captured from a real Xen 4.17, with Xen's {@code xen-hvmctx}
 * decoding of each ({@code hvm-samples/README.md} says where they came from).
 * Shipped in this jar, so tests and benchmarks read nothing outside the project.
 */
public final class HvmSamples {
    /** A 1-vCPU HVM guest with a device model: every fixed device record but the Viridian ones. */
    public static final String HVM = "hvmctx-hvm";
    /** A 1-vCPU PVH guest: CPU, LAPIC, IRQ routing, MTRR, VMCE and TSC_ADJUST only. */
    public static final String PVH = "hvmctx-pvh";

    private HvmSamples() {
    }

    /** The raw stream, e.g. {@code bytes(HvmSamples.HVM)}. */
    public static byte[] bytes(String sample) {
        return Resources.read("hvm-samples/" + sample + ".bin");
    }

    /** {@code xen-hvmctx}'s text for the same domain. */
    public static String xenHvmctx(String sample) {
        return new String(Resources.read("hvm-samples/" + sample + ".txt"), StandardCharsets.UTF_8);
    }
}
