/*
 * hypercall_cost.c - the C counterpart of HypercallCostBenchmark (docs/PERFORMANCE.md).
 *
 * Per iteration, as libxenctrl's xc_domain_getinfo does it on Linux:
 *   memset a struct xen_domctl (144 bytes), assign cmd / interface_version / domain,
 *   copy it into a hypercall-safe page (anonymous, MAP_LOCKED, MADV_DONTFORK: the
 *   libxencall fallback), fill a privcmd_hypercall {op = __HYPERVISOR_domctl,
 *   arg[0] = page} on the stack, ioctl it, copy the page back, read the
 *   getdomaininfo fields DomainInfo carries into a volatile sink.
 * There is no Xen here: the fd is a FIFO opened O_RDWR and the ioctl is FIONREAD on
 * it - a real syscall that returns at once (it stores an int 0 at the argument,
 * i.e. into hc.op, which nothing reads). The Java benchmark does the same.
 *
 * Variants: "full" (the above), "ioctl" (only ioctl(fd, FIONREAD, &hc)), and
 * "nosys" (full, but the ioctl is an opaque non-inlined function that returns 0
 * without entering the kernel: C's own work, the counterpart of the Java
 * typedDomainInfoNoSyscall benchmark).
 * Two ways of timing, both with clock_gettime(CLOCK_MONOTONIC):
 *  - loop: RUNS timed runs of N iterations each (10 N for nosys), after one
 *    untimed warm-up run; prints the median, min and max ns/op over the runs;
 *  - sampled: N calls timed one by one; prints the 50th and 90th percentile.
 *    Each sample includes one clock_gettime pair (the "timer" line measures
 *    an empty body), as JMH's SampleTime mode includes one System.nanoTime
 *    pair. A median over single calls is robust to the process being
 *    descheduled now and then, which a loop mean on a shared machine is not.
 *
 * Build: gcc -O2 -D__XEN_TOOLS__ -o hypercall_cost hypercall_cost.c
 * Run:   ./hypercall_cost [iterations=1000000] [runs=7]
 */
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xen/xen.h>
#include <xen/domctl.h>
#include <xen/sys/privcmd.h>

_Static_assert(sizeof(struct xen_domctl) == 144, "xen_domctl is 144 bytes (Xen 4.17)");
_Static_assert(sizeof(privcmd_hypercall_t) == 48, "privcmd_hypercall is 48 bytes");

static volatile uint64_t sink;

static int fifo_fd;
static void *page;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Stands in for ioctl without a syscall; the compiler must assume it reads and writes memory. */
__attribute__((noinline)) static int no_syscall(int fd, unsigned long request, void *arg)
{
    __asm__ volatile("" : : "r"(fd), "r"(request), "r"(arg) : "memory");
    return 0;
}

typedef int (*ioctl_fn)(int, unsigned long, void *);

static int real_ioctl(int fd, unsigned long request, void *arg)
{
    return ioctl(fd, request, arg);
}

/* One getdomaininfo(0) the way the Java typed path does it. */
static inline __attribute__((always_inline)) void full_once(ioctl_fn call)
{
    struct xen_domctl d;
    privcmd_hypercall_t hc;

    memset(&d, 0, sizeof(d));
    d.cmd = XEN_DOMCTL_getdomaininfo;
    d.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    d.domain = 0;
    memcpy(page, &d, sizeof(d));

    memset(&hc, 0, sizeof(hc));
    hc.op = __HYPERVISOR_domctl;
    hc.arg[0] = (uint64_t)(uintptr_t)page;
    if (call(fifo_fd, FIONREAD, &hc) < 0) {
        perror("ioctl(FIONREAD)");
        exit(1);
    }
    memcpy(&d, page, sizeof(d));

    const struct xen_domctl_getdomaininfo *i = &d.u.getdomaininfo;
    if (i->domain != 0) {
        fprintf(stderr, "getdomaininfo did not come back for domain 0\n");
        exit(1);
    }
    uint64_t h = 0;
    for (int k = 0; k < 16; k++)
        h = h * 31 + i->handle[k];
    sink = i->domain ^ i->flags ^ i->tot_pages ^ i->max_pages ^ i->outstanding_pages ^ i->shr_pages
         ^ i->paged_pages ^ i->shared_info_frame ^ i->cpu_time ^ i->nr_online_vcpus ^ i->max_vcpu_id
         ^ i->ssidref ^ h ^ i->cpupool ^ i->gpaddr_bits ^ i->arch_config.emulation_flags
         ^ i->arch_config.misc_flags;
}

static inline void ioctl_once(void)
{
    privcmd_hypercall_t hc = { .op = __HYPERVISOR_domctl, .arg = { (uint64_t)(uintptr_t)page } };
    if (ioctl(fifo_fd, FIONREAD, &hc) < 0) {
        perror("ioctl(FIONREAD)");
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void measure(const char *name, void (*body)(long), long n, int runs)
{
    double *r = calloc(runs, sizeof(double));
    body(n); /* warm-up: caches, TLB, branch predictors */
    for (int k = 0; k < runs; k++) {
        double t0 = now_ns();
        body(n);
        r[k] = (now_ns() - t0) / n;
    }
    qsort(r, runs, sizeof(double), cmp_double);
    printf("C %-6s loop %9.1f ns/op  min %9.1f  max %9.1f  (median of %d runs x %ld)\n",
           name, r[runs / 2], r[0], r[runs - 1], runs, n);
    free(r);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

enum body { BODY_FULL, BODY_IOCTL, BODY_NOSYS, BODY_EMPTY };

static void sampled(const char *name, enum body body, long n)
{
    uint32_t *t = malloc(n * sizeof(uint32_t));
    struct timespec a, b;
    if (!t) {
        perror("malloc");
        exit(1);
    }
    for (long k = 0; k < n / 10; k++) /* warm-up */
        full_once(real_ioctl);
    for (long k = 0; k < n; k++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        switch (body) {
        case BODY_FULL:
            full_once(real_ioctl);
            break;
        case BODY_IOCTL:
            ioctl_once();
            break;
        case BODY_NOSYS:
            full_once(no_syscall);
            break;
        case BODY_EMPTY:
            __asm__ volatile("" ::: "memory");
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[k] = (uint32_t)((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec));
    }
    qsort(t, n, sizeof(uint32_t), cmp_u32);
    printf("C %-6s p50 %9u ns  p90 %9u ns  (%ld calls timed one by one)\n", name, t[n / 2], t[n * 9 / 10], n);
    free(t);
}

static void full_loop(long n)
{
    for (long k = 0; k < n; k++)
        full_once(real_ioctl);
}

static void nosys_loop(long n)
{
    for (long k = 0; k < n; k++)
        full_once(no_syscall);
}

static void ioctl_loop(long n)
{
    for (long k = 0; k < n; k++)
        ioctl_once();
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000L;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (n <= 0 || runs <= 0) {
        fprintf(stderr, "usage: %s [iterations] [runs]\n", argv[0]);
        return 2;
    }

    char dir[] = "/tmp/xenfork-hcost-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[sizeof(dir) + 16];
    snprintf(path, sizeof(path), "%s/privcmd.fifo", dir);
    if (mkfifo(path, 0600) < 0) {
        perror("mkfifo");
        return 1;
    }
    fifo_fd = open(path, O_RDWR | O_CLOEXEC);
    if (fifo_fd < 0) {
        perror("open(fifo, O_RDWR)");
        return 1;
    }

    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap(MAP_LOCKED)");
        return 1;
    }
    madvise(page, 4096, MADV_DONTFORK);
    memset(page, 0, 4096);

    measure("full", full_loop, n, runs);
    measure("ioctl", ioctl_loop, n, runs);
    measure("nosys", nosys_loop, n * 10, runs);
    sampled("full", BODY_FULL, n);
    sampled("ioctl", BODY_IOCTL, n);
    sampled("nosys", BODY_NOSYS, n);
    sampled("timer", BODY_EMPTY, n);

    munmap(page, 4096);
    close(fifo_fd);
    unlink(path);
    rmdir(dir);
    return 0;
}
