package org.xenfork.privcmd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The anonymous, locked fallback (no /dev/xen/hypercall here) on real memory:
 * page-granular, zeroed on reuse, locked, kept out of children.
 */
class HypercallBuffersTest {
    private final NativeSeam seam = LinuxSeam.get();

    @Test
    void buffersArePageGranularLockedAndZeroedOnReuse() throws Exception {
        try (HypercallBuffers pool = new HypercallBuffers(seam, -1)) {
            assertThat(pool.usesHypercallDevice()).isFalse();
            HypercallBuffer a = pool.acquire(144);
            assertThat(a.capacity()).isEqualTo(Linux.PAGE_SIZE);
            assertThat(a.address() % Linux.PAGE_SIZE).isZero();
            assertThat(smapsEntry(a.address())).contains("VmFlags:").containsPattern("VmFlags:.* lo")
                    .containsPattern("VmFlags:.* dc"); // lo: locked (MAP_LOCKED); dc: do not copy on fork (MADV_DONTFORK)
            byte[] junk = new byte[144];
            java.util.Arrays.fill(junk, (byte) 0x5a);
            a.put(junk, junk.length);
            long address = a.address();
            a.close();

            HypercallBuffer b = pool.acquire(100);
            assertThat(b.address()).as("one-page buffers are reused").isEqualTo(address);
            assertThat(b.get(144)).containsOnly(0);
            b.close();
            assertThatThrownBy(() -> b.put(junk, 1)).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void largeBuffersAreMappedPerUseAndUnmappedAfter() throws Exception {
        try (HypercallBuffers pool = new HypercallBuffers(seam, -1)) {
            HypercallBuffer big = pool.acquire(5 * Linux.PAGE_SIZE + 1);
            assertThat(big.capacity()).isEqualTo(6 * Linux.PAGE_SIZE);
            long address = big.address();
            big.close();
            assertThat(smapsEntry(address)).as("unmapped").isEmpty();
        }
    }

    @Test
    void sizesAreChecked() throws Exception {
        try (HypercallBuffers pool = new HypercallBuffers(seam, -1)) {
            assertThatThrownBy(() -> pool.acquire(0)).isInstanceOf(IllegalArgumentException.class);
            try (HypercallBuffer b = pool.acquire(10)) {
                assertThatThrownBy(() -> b.put(new byte[Linux.PAGE_SIZE + 1], Linux.PAGE_SIZE + 1))
                        .isInstanceOf(IndexOutOfBoundsException.class);
            }
        }
    }

    @Test
    void closingThePoolUnmapsBuffersStillHandedOut() throws Exception {
        HypercallBuffers pool = new HypercallBuffers(seam, -1);
        HypercallBuffer forgotten = pool.acquire(3 * Linux.PAGE_SIZE);
        long address = forgotten.address();
        pool.close();
        assertThat(smapsEntry(address)).as("unmapped by close").isEmpty();
        assertThatThrownBy(() -> forgotten.get(1)).isInstanceOf(IllegalStateException.class);
        forgotten.close(); // harmless afterwards
    }

    @Test
    void absurdSizesAreRefusedBeforeAnyArithmetic() throws Exception {
        try (HypercallBuffers pool = new HypercallBuffers(seam, -1)) {
            assertThatThrownBy(() -> pool.acquire(Integer.MAX_VALUE)).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> pool.acquire(HypercallBuffers.MAX_BYTES + 1)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    /** The /proc/self/smaps block of the mapping that starts at {@code address}, or "" if none does. */
    private static String smapsEntry(long address) throws Exception {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        String start = Long.toHexString(address) + "-";
        StringBuilder sb = new StringBuilder();
        boolean in = false;
        for (String l : lines) {
            if (l.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                in = l.startsWith(start);
            }
            if (in) {
                sb.append(l).append('\n');
            }
        }
        return sb.toString();
    }
}
