package org.xenfork.abi;

/**
 * A fixed-length HVM save record type, as Xen declares it with
 * {@code DECLARE_HVM_SAVE_TYPE(name, code, struct)}: the record body is
 * {@code struct} and its length is {@code sizeof(struct)}.
 */
public record HvmSaveType(String name, int code, StructLayout struct) {
    public int length() {
        return struct.size();
    }
}
