package org.xenfork.privcmd;

import java.util.Locale;

/**
 * The state flags of {@code XEN_DOMCTL_getdomaininfo}, one per Xen
 * {@code XEN_DOMINF_*} constant. Only the names live here: each bit is the
 * release's own, read from its ABI declaration when a {@link DomainInfo} is decoded.
 */
public enum DomainFlag {
    DYING, HVM_GUEST, SHUTDOWN, PAUSED, BLOCKED, RUNNING, DEBUGGED, XS_DOMAIN, HAP;

    /** Xen's name of the flag's bit: {@code XEN_DOMINF_hvm_guest}. */
    public String xenName() {
        return "XEN_DOMINF_" + name().toLowerCase(Locale.ROOT);
    }
}
