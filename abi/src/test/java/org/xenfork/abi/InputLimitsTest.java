package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What refusing input from outside may cost and echo (docs/ABI.md, "Input from outside"; issue 16 item 9). */
class InputLimitsTest {

    @Test
    void valuesLongerThanTheirFieldAreRefusedUnread() {
        assertThat(Values.parse("max", "0".repeat(100_000) + "42", 32)).isEqualTo(BigInteger.valueOf(42));
        assertThat(Values.parse("max", "0x" + "f".repeat(9), 32)).isEqualTo(new BigInteger("f".repeat(9), 16));
        assertThatThrownBy(() -> Values.parse("max", "9".repeat(900_000), 32)).isInstanceOf(AbiException.class)
                .hasMessage("value for max has 900000 significant decimal digits; a 32-bit field holds at most 10");
        assertThatThrownBy(() -> Values.parse("x", "-0x" + "1".repeat(18))).hasMessageContaining("has 18 significant "
                + "hex digits; a 64-bit field holds at most 16");
        assertThatThrownBy(() -> Values.parse("max", "12" + "z".repeat(500), 32))
                .hasMessage("malformed value \"12" + "z".repeat(98) + "\"... (502 characters) for max: write a decimal "
                        + "number (42) or 0x-hex (0x2a)");
    }

    @Test
    void quotedIsShortAndPrintable() {
        assertThat(Values.quoted("a\"b\\c\n\u00e9")).isEqualTo("\"a\\\"b\\\\c\\u000a\\u00e9\"");
        assertThat(Values.quoted("x".repeat(101))).isEqualTo("\"" + "x".repeat(100) + "\"... (101 characters)");
    }

    @Test
    void overLongNamesGetNoSuggestions() {
        List<String> names = List.of("xen_domctl", "xen_sysctl");
        assertThat(NameSuggestions.nearest("xen_domtcl", names, 1)).containsExactly("xen_domctl");
        assertThat(NameSuggestions.nearest("x".repeat(NameSuggestions.MAX_CHARS + 1), names, 5)).isEmpty();
        assertThat(NameSuggestions.hint("x".repeat(1_000_000), names)).isEmpty();
        Abi abi = Abi.forRelease(XenRelease.parse("4.17"));
        assertThatThrownBy(() -> abi.struct("s".repeat(1_000_000))).hasMessage("no struct \"" + "s".repeat(100)
                + "\"... (1000000 characters) in the Xen 4.17 ABI");
        assertThatThrownBy(() -> abi.struct("xen_domctl_createdomian")).hasMessageContaining("nearest: "
                + "xen_domctl_createdomain");
    }
}
