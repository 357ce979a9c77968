package org.xenfork.sim;

import java.util.HashMap;
import java.util.Map;

import org.xenfork.abi.Abi;

/**
 * Names for command numbers, from the release's constants, for the call log.
 * Xen spells commands in lower case after their prefix
 * ({@code XEN_DOMCTL_createdomain}) and flag families in upper case
 * ({@code XEN_DOMCTL_CDF_hvm}), which is how the two are told apart here.
 */
final class ConstantNames {
    private final Map<Long, String> byValue = new HashMap<>();

    /**
     * Commands of {@code abi} named {@code prefix} + a lower-case word, except
     * those starting with {@code excluded} (e.g. the sharing ops, which share
     * the {@code XENMEM_} prefix with memory_op commands).
     */
    ConstantNames(Abi abi, String prefix, String excluded) {
        abi.constants().forEach((name, value) -> {
            boolean command = name.startsWith(prefix) && name.length() > prefix.length()
                    && Character.isLowerCase(name.charAt(prefix.length()));
            if (command && (excluded == null || !name.startsWith(excluded))) {
                byValue.putIfAbsent(value, name);
            }
        });
    }

    /** The name of {@code value}, or {@code cmd <value>} for one this release does not define. */
    String name(long value) {
        String n = byValue.get(value);
        return n != null ? n : "cmd " + value;
    }
}
