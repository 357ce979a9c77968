package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What the declaration language learnt for the monitor ring (docs/ABI.md, "The language"), on small
 * declarations of its own; the real ones are held to gcc by ReleaseLayoutsTest and CHeaderOracleTest.
 */
class DeclarationLanguageTest {

    private static final XenRelease ANY = XenRelease.SUPPORTED.get(0);

    private static Abi declare(String text) {
        return Abi.parse(ANY, "test.abi", Map.of("test.abi", text)::get);
    }

    /** memory.h's {@code XEN_GUEST_HANDLE(xen_pfn_t) extent_start}: the same 8-byte pointer as the _64 form on x86-64. */
    @Test
    void xenGuestHandleIsAnEightBytePointer() {
        StructLayout s = declare("""
                typedef uint64_t xen_pfn_t;
                struct reservation {
                    uint32_t nr;
                    XEN_GUEST_HANDLE(xen_pfn_t) extent_start;
                    XEN_GUEST_HANDLE_64(uint8) buffer;
                    XEN_GUEST_HANDLE(void) h;
                };
                """).struct("reservation");
        assertThat(s.size()).isEqualTo(32);
        assertThat(s.align()).isEqualTo(8);
        Field handle = s.field("extent_start").orElseThrow();
        assertThat(handle.offset()).as("aligned to 8 after a uint32_t").isEqualTo(8);
        assertThat(handle.size()).isEqualTo(8);
        assertThat(handle.kind()).isEqualTo(Field.Kind.HANDLE);
        assertThat(handle.type()).isEqualTo("XEN_GUEST_HANDLE(xen_pfn_t)");
        assertThat(s.field("h").orElseThrow().type()).isEqualTo("XEN_GUEST_HANDLE(void)");
        assertThat(s.leaf("extent_start").bitWidth()).isEqualTo(64);
    }

    @Test
    void xenGuestHandleNeedsItsTarget() {
        assertThatThrownBy(() -> declare("struct s { XEN_GUEST_HANDLE xen_pfn_t p; };"))
                .isInstanceOf(IllegalStateException.class).hasMessage("test.abi:1: expected '(', found 'xen_pfn_t'");
    }

    /**
     * io/ring.h's shape: a union of two structs at top level, used as the element of the ring array, one
     * entry long (ring[1], up to 4.18) or flexible (ring[], from 4.19); the union is as big as its biggest
     * member and a flexible ring adds nothing to sizeof but keeps its offset.
     */
    @Test
    void aRingIsAnArrayOfAUnionOfStructs() {
        Abi abi = declare("""
                typedef unsigned int RING_IDX;
                struct small { uint16_t a; };
                typedef struct big { uint64_t x; uint32_t y; } big_t;
                union t_sring_entry { big_t req; struct small rsp; };
                struct t_sring { RING_IDX req_prod; uint8_t __pad[4]; union t_sring_entry ring[1]; };
                struct f_sring { RING_IDX req_prod; uint8_t __pad[4]; union t_sring_entry ring[]; };
                union f_sring_entry { big_t req; struct small rsp; };
                """);
        StructLayout entry = abi.struct("union t_sring_entry");
        assertThat(entry.isUnion()).isTrue();
        assertThat(entry.size()).isEqualTo(16);
        assertThat(entry.field("req").orElseThrow().type()).isEqualTo("struct big");

        StructLayout one = abi.struct("t_sring");
        assertThat(one.field("ring").orElseThrow()).extracting(Field::offset, Field::size, Field::kind)
                .containsExactly(8, 16, Field.Kind.ARRAY);
        assertThat(one.size()).isEqualTo(24);
        assertThat(one.leaf("ring[0].req.y").offset()).isEqualTo(16);
        assertThat(one.leaf("ring[0].rsp.a").offset()).as("a union's members overlap").isEqualTo(8);

        StructLayout flexible = abi.struct("f_sring");
        assertThat(flexible.field("ring").orElseThrow()).extracting(Field::offset, Field::size, Field::kind)
                .containsExactly(8, 0, Field.Kind.FLEXIBLE_ARRAY);
        assertThat(flexible.size()).isEqualTo(8);
        assertThat(flexible.leaves()).extracting(Leaf::path).containsExactly("req_prod", "__pad[0]", "__pad[1]",
                "__pad[2]", "__pad[3]");

        assertThat(abi.constRingSize("t", 4096)).as("(4096 - 8) / 16 = 255.5, rounded down to a power of two")
                .isEqualTo(128);
        assertThat(abi.constRingSize("f", 8 + 16)).isEqualTo(1);
    }

    @Test
    void aRingSizeNeedsASharedRing() {
        Abi abi = declare("""
                struct t_sring { uint32_t req_prod; };
                union t_sring_entry { uint32_t a; };
                """);
        assertThatThrownBy(() -> abi.constRingSize("t", 4096)).isInstanceOf(AbiException.class)
                .hasMessage("struct t_sring has no ring member: it is not a shared ring of io/ring.h");
        assertThatThrownBy(() -> abi.constRingSize("u", 4096)).isInstanceOf(AbiException.class)
                .hasMessageStartingWith("no struct \"u_sring\" in the Xen " + ANY + " ABI");
    }
}
