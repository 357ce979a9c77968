package org.xenfork.abi;

import java.util.Map;
import java.util.Optional;

/**
 * Which member of a struct's union is in use, chosen by a discriminator field:
 * {@code xen_domctl.u} by {@code cmd}, {@code xen_sysctl.u} by {@code cmd},
 * {@code xen_mem_sharing_op.u} by {@code op}. Declared per release in its
 * {@code .abi} file with {@code UNION_SELECTOR}.
 *
 * @param unionPath     the union's path in the struct, e.g. {@code u}
 * @param discriminator the field that chooses, e.g. {@code cmd}
 * @param members       discriminator value to member name; an empty name means no payload
 * @param fallback      the member for any other value (Xen's raw {@code pad}), or null
 */
public record UnionSelector(String unionPath, String discriminator, Map<Long, String> members, String fallback) {

    /**
     * The member to show for a discriminator value: present and non-empty for a
     * member, present and empty for a command without payload, absent when the
     * value is unknown and there is no fallback (show every member).
     */
    public Optional<String> memberFor(long value) {
        String m = members.get(value);
        return Optional.ofNullable(m != null ? m : fallback);
    }
}
