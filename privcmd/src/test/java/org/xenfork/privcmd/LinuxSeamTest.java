package org.xenfork.privcmd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real libc seam on this machine (Linux x86-64; no Xen needed). */
class LinuxSeamTest {
    private final NativeSeam seam = LinuxSeam.get();

    @Test
    void openedFdsAreCloseOnExec() throws Exception {
        int fd = seam.open("/dev/null", Linux.O_RDWR | Linux.O_CLOEXEC);
        try {
            // fdinfo's flags are octal; O_CLOEXEC is 02000000.
            String flags = Files.readAllLines(Path.of("/proc/self/fdinfo/" + fd)).stream()
                    .filter(l -> l.startsWith("flags:")).findFirst().orElseThrow().substring(6).strip();
            assertThat(Long.parseLong(flags, 8) & Linux.O_CLOEXEC).isEqualTo(Linux.O_CLOEXEC);
        } finally {
            seam.close(fd);
        }
    }

    @Test
    void openWithoutCloseOnExecIsRefused() {
        assertThatThrownBy(() -> seam.open("/dev/null", Linux.O_RDWR)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("O_CLOEXEC");
    }

    @Test
    void failuresCarryTheCallAndErrno() {
        assertThatThrownBy(() -> seam.open("/nonexistent/xenfork", Linux.O_RDWR | Linux.O_CLOEXEC))
                .isInstanceOfSatisfying(NativeException.class, e -> {
                    assertThat(e.errno()).isEqualTo(Errno.ENOENT);
                    assertThat(e.getMessage()).isEqualTo("open(/nonexistent/xenfork): ENOENT (2)");
                });
        assertThatThrownBy(() -> seam.close(987654)).isInstanceOfSatisfying(NativeException.class,
                e -> assertThat(e.errno()).isEqualTo(Errno.EBADF));
    }

    @Test
    void privcmdIoctlOnAnotherDeviceIsEnotty() throws Exception {
        int fd = seam.open("/dev/null", Linux.O_RDWR | Linux.O_CLOEXEC);
        long page = seam.mmap(Linux.PAGE_SIZE, Linux.PROT_READ | Linux.PROT_WRITE,
                Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
        try {
            assertThatThrownBy(() -> seam.ioctl(fd, Linux.IOCTL_PRIVCMD_HYPERCALL, page))
                    .isInstanceOfSatisfying(NativeException.class, e -> assertThat(e.errno()).isEqualTo(Errno.ENOTTY));
        } finally {
            seam.munmap(page, Linux.PAGE_SIZE);
            seam.close(fd);
        }
    }

    @Test
    void anonymousMemoryRoundTripsAndAdvises() throws Exception {
        long p = seam.mmap(2 * Linux.PAGE_SIZE, Linux.PROT_READ | Linux.PROT_WRITE,
                Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
        try {
            byte[] data = {1, 2, 3, (byte) 0xff};
            seam.write(p + Linux.PAGE_SIZE - 2, data, 0, 4); // across the page boundary
            byte[] back = new byte[4];
            seam.read(p + Linux.PAGE_SIZE - 2, back, 0, 4);
            assertThat(back).containsExactly(data);
            seam.madvise(p, 2 * Linux.PAGE_SIZE, Linux.MADV_DONTFORK);
            seam.madvise(p, 2 * Linux.PAGE_SIZE, Linux.MADV_DOFORK);
            assertThatThrownBy(() -> seam.madvise(p + 1, Linux.PAGE_SIZE, Linux.MADV_DONTFORK))
                    .isInstanceOfSatisfying(NativeException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EINVAL));
        } finally {
            seam.munmap(p, 2 * Linux.PAGE_SIZE);
        }
    }

    /** read(2), write(2) and poll(2) on a FIFO, which is readable exactly when bytes wait in it. */
    @Test
    void fdReadWriteAndPollOnAFifo(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("fifo");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertThat(mkfifo.waitFor(30, TimeUnit.SECONDS) && mkfifo.exitValue() == 0).as("mkfifo").isTrue();
        // O_RDWR: opening a FIFO for both ends does not wait for a peer on Linux.
        int fd = seam.open(fifo.toString(), Linux.O_RDWR | Linux.O_CLOEXEC | Linux.O_NONBLOCK);
        long page = seam.mmap(Linux.PAGE_SIZE, Linux.PROT_READ | Linux.PROT_WRITE,
                Linux.MAP_PRIVATE | Linux.MAP_ANONYMOUS, -1, 0);
        try {
            assertThat(seam.poll(fd, Linux.POLLIN, 0)).as("empty: not readable").isZero();
            assertThat(seam.poll(fd, Linux.POLLIN, 5)).as("empty: the timeout passes").isZero();
            assertThatThrownBy(() -> seam.readFd(fd, page, 16)).isInstanceOfSatisfying(NativeException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.EAGAIN));

            seam.write(page, new byte[] {7, 8, 9}, 0, 3);
            assertThat(seam.writeFd(fd, page, 3)).isEqualTo(3);
            assertThat(seam.poll(fd, Linux.POLLIN, -1) & (Linux.POLLIN | Linux.POLLNVAL)).isEqualTo(Linux.POLLIN);
            assertThat(seam.readFd(fd, page + 100, 16)).isEqualTo(3);
            byte[] back = new byte[3];
            seam.read(page + 100, back, 0, 3);
            assertThat(back).containsExactly(7, 8, 9);
            assertThat(seam.poll(fd, Linux.POLLIN, 0)).as("drained").isZero();
            assertThatThrownBy(() -> seam.readFd(fd, page, -1)).isInstanceOf(IllegalArgumentException.class);
        } finally {
            seam.munmap(page, Linux.PAGE_SIZE);
            seam.close(fd);
        }
    }

    @Test
    void fdCallsOnAnFdThatIsNotOpen() throws Exception {
        int notOpen = 987654; // far above any fd this JVM opens, so no other thread can be handed it
        assertThatThrownBy(() -> seam.readFd(notOpen, 4096, 4)).isInstanceOfSatisfying(NativeException.class,
                e -> assertThat(e.errno()).isEqualTo(Errno.EBADF));
        assertThatThrownBy(() -> seam.writeFd(notOpen, 4096, 4)).isInstanceOfSatisfying(NativeException.class,
                e -> assertThat(e.errno()).isEqualTo(Errno.EBADF));
        assertThat(seam.poll(notOpen, Linux.POLLIN, 0)).as("poll(2) reports it, not fails").isEqualTo(Linux.POLLNVAL);
    }
}
