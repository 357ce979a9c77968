/*
 * LD_PRELOAD shim that lets Debian's oxenstored (Xen 4.17) start on a machine
 * without Xen, for RealXenstoredTest. Only test code uses it.
 *
 * oxenstored opens the hypervisor and the event-channel device at start-up even
 * with --no-domain-init, and exits when they are missing (no /dev/xen here):
 *   Fatal error: exception Xenctrl.Error("Unable to open XC interface")
 * With --no-domain-init and only Unix-socket clients, it never uses these
 * handles for anything but the VIRQ_DOM_EXC event channel, which never fires.
 * So: dummy handles, and an event-channel fd that is a pipe nobody writes to.
 *
 * Everything xenstore clients see (message parsing, the store, permissions,
 * watches, transactions, error replies) is oxenstored's own unmodified code.
 */
#include <unistd.h>

static int evtchn_pipe[2] = { -1, -1 };
static char dummy_handle[64];

void *xc_interface_open(void *logger, void *dombuild_logger, unsigned open_flags)
{
    return dummy_handle;
}

int xc_interface_close(void *xch)
{
    return 0;
}

void *xenevtchn_open(void *logger, unsigned open_flags)
{
    if (evtchn_pipe[0] < 0 && pipe(evtchn_pipe) != 0)
        return 0;
    return dummy_handle;
}

int xenevtchn_fd(void *xce)
{
    return evtchn_pipe[0];
}

int xenevtchn_bind_virq(void *xce, unsigned int virq)
{
    return 1; /* a port number; nothing will ever be pending on it */
}

int xenevtchn_unmask(void *xce, unsigned int port)
{
    return 0;
}

int xenevtchn_pending(void *xce)
{
    return -1;
}

int xenevtchn_close(void *xce)
{
    return 0;
}
