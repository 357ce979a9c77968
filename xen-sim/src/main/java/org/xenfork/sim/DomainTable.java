package org.xenfork.sim;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.xenfork.abi.Abi;
import org.xenfork.privcmd.Errno;

/**
 * Xen's domain list (kept in domid order, as {@code domain_list} is) and the
 * lookups hypercalls use on it. A destroyed domain stays listed, dying, while
 * something still holds a reference to it, as in Xen where {@code domain_kill}
 * drops only the initial reference.
 */
final class DomainTable {
    private final TreeMap<Integer, SimDomain> domains = new TreeMap<>();
    private final int firstReserved;
    /** {@code static domid_t rover} in XEN_DOMCTL_createdomain. */
    private int rover;

    DomainTable(Abi abi) {
        this.firstReserved = (int) abi.constant("DOMID_FIRST_RESERVED");
    }

    int firstReserved() {
        return firstReserved;
    }

    /** The hypercall caller, {@code current->domain}: the simulator's toolstack always runs in dom0. */
    SimDomain caller() {
        return domains.get(0);
    }

    void add(SimDomain d) {
        domains.put(d.domid, d);
    }

    void remove(SimDomain d) {
        domains.remove(d.domid, d);
    }

    /** {@code rcu_lock_domain_by_id}: the domain with exactly this id, or null (no DOMID_SELF translation). */
    SimDomain byId(long domid) {
        return domid >= 0 && domid < firstReserved ? domains.get((int) domid) : null;
    }

    /** The first domain with an id at or above {@code domid} (≤4.17 getdomaininfo), or null. */
    SimDomain firstAtLeast(int domid) {
        Map.Entry<Integer, SimDomain> e = domains.ceilingEntry(domid);
        return e == null ? null : e.getValue();
    }

    /** Every listed domain in domid order. */
    List<SimDomain> all() {
        return new ArrayList<>(domains.values());
    }

    /**
     * {@code rcu_lock_live_remote_domain_by_id}: ESRCH if there is no such
     * domain, EPERM if it is the caller itself, EINVAL if it is dying.
     */
    SimDomain liveRemote(long domid) {
        SimDomain d = byId(domid);
        XenError.failIf(d == null, Errno.ESRCH);
        XenError.failIf(d == caller(), Errno.EPERM);
        XenError.failIf(!d.isAlive(), Errno.EINVAL);
        return d;
    }

    /**
     * XEN_DOMCTL_createdomain's choice of id: a requested id in
     * 1..DOMID_FIRST_RESERVED-1 is used if free (else EEXIST); any other
     * request takes the next free id after the rover, wrapping to 1.
     */
    int allocate(long requested) {
        if (requested > 0 && requested < firstReserved) {
            XenError.failIf(domains.containsKey((int) requested), Errno.EEXIST);
            return (int) requested;
        }
        int dom = rover;
        for (int tries = 1; tries < firstReserved; tries++) {
            dom = dom + 1 >= firstReserved ? 1 : dom + 1;
            if (!domains.containsKey(dom)) {
                rover = dom;
                return dom;
            }
        }
        throw new XenError(Errno.ENOMEM);
    }
}
