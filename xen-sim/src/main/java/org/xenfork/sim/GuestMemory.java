package org.xenfork.sim;

/**
 * The calling process's memory as the hypervisor reaches it: Xen's
 * {@code copy_from_guest} / {@code copy_to_guest} on a PV dom0's user addresses.
 * A copy that touches an unmapped or not-present page fails with
 * {@link XenError} {@code EFAULT}, as Xen's copy does (it cannot take a page
 * fault on the guest's behalf).
 */
interface GuestMemory {

    /** {@code copy_from_guest}: {@code length} bytes at {@code address}, or EFAULT. */
    byte[] copyFromGuest(long address, int length);

    /** {@code copy_to_guest}: all of {@code bytes} to {@code address}, or EFAULT. */
    void copyToGuest(long address, byte[] bytes);
}
