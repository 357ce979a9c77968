package org.xenfork.sim;

/**
 * What a new domain is made from: the parts of {@code xen_domctl_createdomain}
 * the simulator keeps, after the checks of createdomain (or a
 * {@link GuestSpec}) have passed.
 *
 * @param cdfFlags       {@code XEN_DOMCTL_CDF_*}
 * @param emulationFlags {@code XEN_X86_EMU_*}
 */
record DomainParams(byte[] handle, int ssidref, int cdfFlags, int maxVcpus, int emulationFlags) {
}
