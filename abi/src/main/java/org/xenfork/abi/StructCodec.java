package org.xenfork.abi;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The one generic encoder and decoder: values by C path to bytes and back,
 * over any {@link StructLayout}. Bytes not named stay zero, pads included;
 * {@code encode} writes exactly what it is told (it serves auditing too).
 */
public final class StructCodec {
    private StructCodec() {
    }

    /**
     * Encodes {@code values} (C path to decimal or 0x-hex text) into a zeroed
     * struct. Unknown paths, values that do not fit and malformed numbers are
     * {@link AbiException}s naming the field.
     */
    public static byte[] encode(StructLayout layout, Map<String, String> values) {
        byte[] bytes = new byte[layout.size()];
        values.forEach((path, text) -> {
            Leaf leaf = layout.leaf(path);
            leaf.write(bytes, 0, leaf.bitsFor(Values.parse(path, text, leaf.bitWidth())));
        });
        return bytes;
    }

    /**
     * Decodes a whole struct to its leaves' stored bits, in declaration order.
     * A union with a selector shows only the member its discriminator chooses,
     * or {@code member} when given; other unions show every member.
     */
    public static Map<String, Long> decode(StructLayout layout, byte[] bytes, Optional<String> member) {
        if (bytes.length != layout.size()) {
            throw new AbiException(layout.name() + " is " + layout.size() + " bytes; got " + bytes.length
                    + " bytes (" + bytes.length * 2 + " hex digits)");
        }
        Optional<UnionSelector> sel = layout.selector();
        String union = null;
        Optional<String> shown = Optional.empty();
        if (sel.isPresent()) {
            union = sel.get().unionPath();
            long discriminator = layout.leaf(sel.get().discriminator()).read(bytes, 0);
            shown = member.isPresent() ? member : sel.get().memberFor(discriminator);
        } else if (member.isPresent()) {
            throw new AbiException("--member applies to structs with a selected union (xen_domctl, xen_sysctl, "
                    + "xen_mem_sharing_op); " + layout.name() + " has none");
        }
        if (member.isPresent() && (layout.field(union + "." + member.get()).isEmpty())) {
            throw new AbiException("no member " + member.get() + " in " + layout.name() + "." + union);
        }
        Map<String, Long> out = new LinkedHashMap<>();
        for (Leaf leaf : layout.leaves()) {
            if (union != null && leaf.path().startsWith(union + ".") && shown.isPresent()) {
                String m = shown.get();
                if (m.isEmpty() || !(leaf.path().startsWith(union + "." + m + ".")
                        || leaf.path().startsWith(union + "." + m + "["))) {
                    continue;
                }
            }
            out.put(leaf.path(), leaf.read(bytes, 0));
        }
        return out;
    }
}
