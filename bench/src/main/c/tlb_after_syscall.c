/*
 * tlb_after_syscall.c - context for docs/PERFORMANCE.md: what a syscall costs the user code
 * that runs after it on this machine. Times single calls of "touch K distinct pages", without
 * and with an ioctl(FIONREAD) on a FIFO before the touching, and prints the median of each.
 * Where every kernel entry flushes the user TLB (PTI without PCID, as on the benchmark machine),
 * the ioctl+touch line grows with K although touching alone costs next to nothing: code that
 * touches more distinct pages between syscalls (a JVM's call path) pays more per syscall.
 *
 * Build: gcc -O2 -o tlb_after_syscall tlb_after_syscall.c
 * Run:   ./tlb_after_syscall [calls=300000]
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000ull + t.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 300000;
    char dir[] = "/tmp/xenfork-tlb-XXXXXX";
    char path[64];
    if (n <= 0 || !mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/fifo", dir);
    if (mkfifo(path, 0600) < 0) {
        perror("mkfifo");
        return 1;
    }
    int fd = open(path, O_RDWR | O_CLOEXEC);
    /* Pages 4160 bytes apart: distinct pages, distinct cache sets. */
    volatile char *m = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    uint32_t *t = malloc(n * sizeof(uint32_t));
    if (fd < 0 || m == MAP_FAILED || !t) {
        perror("setup");
        return 1;
    }
    static const int ks[] = {0, 8, 16, 32, 64};
    for (int with_ioctl = 0; with_ioctl < 2; with_ioctl++) {
        for (unsigned p = 0; p < sizeof(ks) / sizeof(ks[0]); p++) {
            int k = ks[p], x;
            for (long i = 0; i < n; i++) {
                uint64_t a = now_ns();
                if (with_ioctl && ioctl(fd, FIONREAD, &x) < 0) {
                    perror("ioctl");
                    return 1;
                }
                for (int j = 0; j < k; j++)
                    m[(long)j * (4096 + 64)]++;
                t[i] = (uint32_t)(now_ns() - a);
            }
            qsort(t, n, sizeof(uint32_t), cmp_u32);
            printf("%-12s then touch %2d pages: p50 %5u ns\n", with_ioctl ? "ioctl" : "no syscall", k, t[n / 2]);
        }
    }
    close(fd);
    unlink(path);
    rmdir(dir);
    return 0;
}
