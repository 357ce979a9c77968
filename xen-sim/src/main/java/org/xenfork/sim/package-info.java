/**
 * A simulated Xen (each supported release, 4.14 on; x86-64) below privcmd's ioctl, so that tests
 * and {@code xenfork demo} run the real hypercall encoding without Xen.
 *
 * <h2>Use</h2>
 * <pre>{@code
 * SimXen xen = SimXen.builder(XenRelease.parse("4.17")).build();
 * SimDomain parent = xen.addGuest(GuestSpec.hvm("debian", 2, 1 << 20).paused());
 * NativeSeam seam = new SimulatedSeam(xen);      // hand this to privcmd
 * xen.injectFault(SimCall.named("XEN_DOMCTL_createdomain"), Errno.ENOMEM);
 * xen.calls();                                   // what privcmd did, decoded
 * }</pre>
 *
 * <h2>Who does what</h2>
 * <ul>
 * <li>{@link org.xenfork.sim.SimulatedSeam}: Linux (devices, mmap, the HYPERCALL and MMAPBATCH_V2
 *     ioctls, the latter in {@code PrivcmdMmapBatch} over {@code MmuUpdate};
 *     {@code EvtchnFile}: an open {@code /dev/xen/evtchn});
 *     {@code AddressSpace}: the process's memory, as the process and as Xen's copy_to/from_guest see it.</li>
 * <li>{@link org.xenfork.sim.SimXen}: the hypervisor, its options, call log and fault plan;
 *     one class per hypercall: {@code XenVersionHypercall}, {@code DomctlHypercall}
 *     (with {@code CreateDomain}), {@code SysctlHypercall}, {@code MemoryOpHypercall}
 *     (with {@code MemSharing}), {@code MulticallHypercall}.</li>
 * <li>State: {@link org.xenfork.sim.SimDomain} (with {@code P2m}, its {@code Frame}s and its HVM records),
 *     {@code DomainTable}, {@code DomainLifecycle}, {@code HvmSaveRestore} (save/restore),
 *     {@code GetDomainInfoReply} (getdomaininfo), {@code EventChannels} (ports, with
 *     {@link org.xenfork.sim.SimEventChannel} to look at one).</li>
 * </ul>
 * Every struct is read and written through the release's {@code org.xenfork.abi}
 * layouts (leaves resolved by C path once per hypervisor), never by offsets in code.
 *
 * <h2>Modelled</h2>
 * Each release's interface versions (EACCES), createdomain layouts and checks,
 * domain ids, controller and internal pause counts, destruction (including a
 * fork's parent, which lingers dying while forks hold it), getdomaininfo
 * (≤4.17 next-domain search, 4.18+ exact) and getdomaininfolist at the
 * release's stride, physinfo, max_mem, max_vcpus, vCPUs up/down, HVM contexts
 * (HEADER, CPU, LAPIC, LAPIC_REGS, MTRR, END) with get/set/partial and the
 * 4.19 dry-run load, XENMEM_sharing_op fork and fork_reset with all their
 * checks, fork memory page by page (shared on read, private on write, private
 * pages dropped by a reset) with its contents ({@code Frame}), foreign mappings
 * (mmap of privcmd, IOCTL_PRIVCMD_MMAPBATCH_V2 over mmu_update, with Linux's
 * and Xen's errnos), paging out as a stand-in pager, multicall, xen_version,
 * EFAULT for memory Xen cannot reach, cpu_time advancing with hypercalls, event channels between dom0's
 * {@code /dev/xen/evtchn} and ports Xen allocates for itself in a guest
 * ({@code alloc_unbound_xen_event_channel}, as for a vm_event ring) or a guest
 * allocates ({@link org.xenfork.sim.SimXen#guestAllocUnbound}): bind_interdomain,
 * close, send, unmask, pending and mask bits, destruction.
 *
 * <h2>Not modelled</h2>
 * Other hypercalls and commands (ENOSYS), other sharing ops (ENOSYS), other HVM
 * record types (PIC, IOAPIC, PIT, … are unknown typecodes: EINVAL), register
 * validation on load, HVM params, special pages, VIRQ/IPI/PIRQ event channels
 * and the kernel's EVTCHNOP calls in the call log, grant tables
 * beyond createdomain's version check, cpupools other than 0, XSM (the caller
 * is always a privileged dom0), hypercall continuations (never needed: nothing
 * is preempted), IOCTL_PRIVCMD_RESTRICT and the other privcmd ioctls, foreign
 * mappings of PV guests (machine frames), a PVH dom0's XENMEM_add_to_physmap_range
 * path, the zombie a destroyed domain stays while dom0 maps its pages, the
 * paging ring and daemon. physinfo's free_pages is approximate.
 */
package org.xenfork.sim;
