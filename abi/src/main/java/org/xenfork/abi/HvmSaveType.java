package org.xenfork.abi;

import java.util.Optional;

/**
 * An HVM save record type, as Xen declares it with
 * {@code DECLARE_HVM_SAVE_TYPE(name, code, struct)}: the record body is
 * {@code struct} and its length is {@code sizeof(struct)}.
 *
 * @param compat         the older layout the loader also accepts ({@code DECLARE_HVM_SAVE_TYPE_COMPAT}:
 *                       only CPU has one, {@code hvm_hw_cpu_compat})
 * @param variableLength a record whose body is {@code struct} followed by more
 *                       (CPU_XSAVE's xsave areas, CPU_MSR's {@code msr[]}); Xen gives
 *                       such types only a {@code *_CODE} constant
 */
public record HvmSaveType(String name, int code, StructLayout struct, Optional<StructLayout> compat,
                          boolean variableLength) {

    /** {@code HVM_SAVE_LENGTH(name)}: the body's length; for a variable-length type, that of its fixed part. */
    public int length() {
        return struct.size();
    }
}
