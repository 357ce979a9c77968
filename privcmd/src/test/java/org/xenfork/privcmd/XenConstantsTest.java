package org.xenfork.privcmd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;

/** The Xen constants privcmd's types use come from the ABI declarations, the same in every supported release. */
class XenConstantsTest {

    @Test
    void domainIdsAreCheckedAgainstEveryReleasesFirstReservedId() {
        for (XenRelease r : XenRelease.SUPPORTED) {
            assertThat(Abi.forRelease(r).constant("DOMID_FIRST_RESERVED")).as("Xen %s", r)
                    .isEqualTo(Domid.FIRST_RESERVED);
        }
        assertThat(Domid.parse("0x7fef")).isEqualTo(0x7fef);
        assertThatThrownBy(() -> Domid.parse("32752")).hasMessageContaining("domain ids are 0 to 32751 (0x7fef)");
    }

    @Test
    void everyDomainFlagNamesAConstantOfEveryRelease() {
        for (XenRelease r : XenRelease.SUPPORTED) {
            Abi abi = Abi.forRelease(r);
            for (DomainFlag f : DomainFlag.values()) {
                assertThat(abi.findConstant(f.xenName())).as("%s in Xen %s", f.xenName(), r).isPresent();
            }
        }
    }

    @Test
    void xlStateLettersComeFromTheDecodedFlags() {
        Abi abi = Abi.forRelease(XenRelease.parse("4.17"));
        DomainInfo crashed = info(EnumSet.of(DomainFlag.SHUTDOWN, DomainFlag.PAUSED), abi.constant("SHUTDOWN_crash"));
        DomainInfo poweredOff = info(EnumSet.of(DomainFlag.SHUTDOWN, DomainFlag.DYING), abi.constant("SHUTDOWN_poweroff"));
        DomainInfo suspended = info(EnumSet.of(DomainFlag.SHUTDOWN), abi.constant("SHUTDOWN_suspend"));
        assertThat(crashed.stateLetters()).isEqualTo("--p-c-");
        assertThat(poweredOff.stateLetters()).isEqualTo("---s-d");
        assertThat(suspended.stateLetters()).as("a suspended domain is shut down, not crashed").isEqualTo("---s--");
        assertThat(info(EnumSet.of(DomainFlag.RUNNING, DomainFlag.BLOCKED), 0).stateLetters()).isEqualTo("rb----");
    }

    @Test
    void virtCapsUseTheReleasesBits() {
        Abi oldest = Abi.forRelease(XenRelease.parse("4.14"));
        Abi newest = Abi.forRelease(XenRelease.SUPPORTED.get(XenRelease.SUPPORTED.size() - 1));
        long hvmHapDirectio = newest.constant("XEN_SYSCTL_PHYSCAP_hvm") | newest.constant("XEN_SYSCTL_PHYSCAP_hap")
                | newest.constant("XEN_SYSCTL_PHYSCAP_directio");
        long v2 = newest.constant("XEN_SYSCTL_PHYSCAP_gnttab_v2");
        assertThat(caps(hvmHapDirectio | v2).capabilityNames(newest)).isEqualTo("hvm hvm_directio hap gnttab-v2");
        // 4.14 has no gnttab bits: the same word there says nothing about grant tables.
        assertThat(oldest.findConstant("XEN_SYSCTL_PHYSCAP_gnttab_v2")).isEmpty();
        assertThat(caps(hvmHapDirectio | v2).capabilityNames(oldest)).isEqualTo("hvm hvm_directio hap");
    }

    private static DomainInfo info(Set<DomainFlag> states, long shutdownReason) {
        return new DomainInfo(1, 0, states, (int) shutdownReason, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, null, 0, 0, 0, 0);
    }

    private static PhysInfo caps(long capabilities) {
        return new PhysInfo(1, 1, 1, 0, 1, 0, capabilities, 0, 0, 0);
    }
}
