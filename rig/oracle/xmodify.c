/*
 * xmodify SECONDS: does this machine execute cross-modified code whole?
 *
 * One thread calls a 5-byte entry in a loop while another thread patches that entry the way HotSpot makes a
 * compiled method not entrant (NativeJump::patch_verified_entry on x86): three aligned stores, bytes 0-3 := a
 * jump to itself (eb fe eb fe), byte 4 := the new byte, bytes 0-3 := the new bytes. It alternates between
 * `mov $0x11111111,%eax` (the entry then returns through the `ret` after it) and `jmp stub` (the stub returns
 * 0x33333333). On x86 hardware every call returns one of the two values. Any other value, or a SIGSEGV/SIGILL,
 * means an instruction was decoded from bytes of two different patches: a torn instruction fetch.
 *
 * Under the rig's multi-threaded TCG with two dom0 vCPUs this fails within seconds; with one dom0 vCPU (or
 * one TCG thread) it does not. That is the JVM crash the rig's dom0_max_vcpus=1 removes (README.md).
 * Exit 0: no torn fetch in SECONDS; 1: torn; 2: set-up failed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RET_MOV 0x11111111u
#define RET_STUB 0x33333333u

static uint8_t *page;
static atomic_int stop;
static volatile unsigned long calls;

static void on_signal(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    char line[160];
    int n = snprintf(line, sizeof line, "XMODIFY torn: signal %d at %p after %lu calls\n", sig, si->si_addr, calls);
    if (n > 0) write(1, line, (size_t)n);
    _exit(1);
}

/* HotSpot's order: a spinning jump first, then the fifth byte, then the first four. */
static void patch(uint8_t *entry, const uint8_t insn[5]) {
    uint32_t spin = 0xfeebfeebu, head;
    memcpy(&head, insn, 4);
    __atomic_store_n((uint32_t *)entry, spin, __ATOMIC_RELEASE);
    __atomic_store_n(entry + 4, insn[4], __ATOMIC_RELEASE);
    __atomic_store_n((uint32_t *)entry, head, __ATOMIC_RELEASE);
}

static void *patcher(void *arg) {
    (void)arg;
    uint8_t mov[5] = {0xb8, 0x11, 0x11, 0x11, 0x11}, jmp[5] = {0xe9};
    int32_t rel = (int32_t)((page + 64) - (page + 5));
    memcpy(jmp + 1, &rel, 4);
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        patch(page, (n++ & 1) ? mov : jmp);
        for (volatile int i = 0; i < 300; i++) {
        }
    }
    return (void *)n;
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    const uint8_t entry[8] = {0xb8, 0x11, 0x11, 0x11, 0x11, 0xc3, 0xcc, 0xcc};
    const uint8_t stub[6] = {0xb8, 0x33, 0x33, 0x33, 0x33, 0xc3};
    memcpy(page, entry, sizeof entry);
    memcpy(page + 64, stub, sizeof stub);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, patcher, NULL) != 0) {
        perror("pthread_create");
        return 2;
    }
    uint32_t (*fn)(void) = (uint32_t (*)(void))(uintptr_t)page;
    unsigned long torn = 0;
    uint32_t first = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        for (int i = 0; i < 10000; i++) {
            uint32_t r = fn();
            calls++;
            if (r != RET_MOV && r != RET_STUB && !torn++) first = r;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    atomic_store(&stop, 1);
    void *patches;
    pthread_join(t, &patches);
    printf("XMODIFY calls=%lu patches=%lu torn=%lu", calls, (unsigned long)patches, torn);
    if (torn) printf(" first=0x%08x", first);
    printf("\n");
    return torn ? 1 : 0;
}
