package org.xenfork.sim;

import org.xenfork.abi.Abi;
import org.xenfork.abi.Field;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.privcmd.Errno;

/**
 * {@code __HYPERVISOR_multicall} (13), as {@code do_multicall} in
 * xen/common/multicall.c runs it for a 64-bit PV caller: each 64-byte
 * {@code multicall_entry} is read (EFAULT ends the batch), its call made with
 * {@code args[0..4]}, and the call's full 64-bit result written back into the
 * entry's {@code result} (EFAULT if that fails). The multicall itself returns
 * 0; a multicall inside a multicall gets EINVAL ("Multicall reentry is
 * disallowed"). libxc ≥ 4.16 sends memory_op this way to read its whole result.
 */
final class MulticallHypercall {
    /** How a multicall makes each call: the hypervisor's own entry point. */
    interface Dispatcher {
        long hypercall(GuestMemory mem, long op, long[] args);
    }

    /** pv_do_multicall_call passes args[0] .. args[4]; args[5] is unused on x86-64. */
    private static final int ARGS_USED = 5;

    private final int entrySize;
    private final Leaf op;
    private final Leaf[] args = new Leaf[ARGS_USED];
    private final Leaf result;
    private final Field resultField;
    private boolean inMulticall;

    MulticallHypercall(Abi abi) {
        StructLayout entry = abi.struct("multicall_entry");
        this.entrySize = entry.size();
        this.op = entry.leaf("op");
        for (int i = 0; i < ARGS_USED; i++) {
            args[i] = entry.leaf("args[" + i + "]");
        }
        this.result = entry.leaf("result");
        this.resultField = entry.field("result").orElseThrow();
    }

    long call(GuestMemory mem, long callList, long nrCalls, Dispatcher dispatcher) {
        if (inMulticall) {
            return -Errno.EINVAL;
        }
        inMulticall = true;
        try {
            long n = nrCalls & 0xffff_ffffL; // uint32_t nr_calls
            for (long i = 0; i < n; i++) {
                long entryAddress = callList + i * entrySize;
                byte[] entry = mem.copyFromGuest(entryAddress, entrySize);
                long[] a = new long[ARGS_USED];
                for (int k = 0; k < ARGS_USED; k++) {
                    a[k] = args[k].read(entry, 0);
                }
                long rc = dispatcher.hypercall(mem, op.read(entry, 0), a);
                result.write(entry, 0, rc);
                byte[] resultBytes = new byte[resultField.size()];
                System.arraycopy(entry, resultField.offset(), resultBytes, 0, resultBytes.length);
                mem.copyToGuest(entryAddress + resultField.offset(), resultBytes);
            }
            return 0;
        } finally {
            inMulticall = false;
        }
    }
}
