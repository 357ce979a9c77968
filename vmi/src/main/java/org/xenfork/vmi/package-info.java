/**
 * Seeing into a domain, as a fuzzer or a sandbox needs to: its guest-physical memory,
 * reached through foreign mappings of the privcmd device ({@link org.xenfork.vmi.PhysicalMemory}),
 * and its guest-virtual addresses, translated through a vCPU's page tables as that vCPU's
 * control registers describe them. Nothing here is native code: mappings come from
 * {@code privcmd}, register state from {@code hvm-context}.
 */
package org.xenfork.vmi;
