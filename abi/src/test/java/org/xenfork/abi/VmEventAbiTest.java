package org.xenfork.abi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.quicktheories.QuickTheory.qt;
import static org.quicktheories.generators.SourceDSL.integers;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.testfixtures.ReferenceData;

/**
 * The vm_event monitor ring's ABI, release by release (docs/VMI.md, "The monitor ring's ABI, release by
 * release"): what a monitor must know before it reads a request off the ring. Every number it compares with
 * is gcc's, from {@code layouts-X.Y.jsonl} (ReleaseLayoutsTest holds all of them; these tests say why they
 * matter).
 */
class VmEventAbiTest {

    private static final int PAGE = 4096;

    /**
     * Xen writes VM_EVENT_INTERFACE_VERSION into every request and drops a response that carries another
     * ("vm_event interface version mismatch", vm_event_resume in xen/common/vm_event.c); each release's value is
     * its vm_event.h's, and gcc put it into the golden requests.
     */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void interfaceVersionIsTheHeaders(String release) {
        Abi abi = abi(release);
        long measured = constant(release, "VM_EVENT_INTERFACE_VERSION").get("value").asLong();
        assertThat(abi.constant("VM_EVENT_INTERFACE_VERSION")).isEqualTo(measured);
        List<JsonNode> requests = ReferenceData.golden(release).stream()
                .filter(c -> c.get("struct").asText().equals("vm_event_st")).toList();
        assertThat(requests).as("golden requests of Xen %s", release).isNotEmpty();
        for (JsonNode c : requests) {
            assertThat(c.get("fields").get(0).get("path").asText()).isEqualTo("version");
            assertThat(Long.decode(c.get("fields").get(0).get("value").asText())).as("%s: version, by gcc", c.get("case"))
                    .isEqualTo(measured);
        }
    }

    /**
     * Releases that share a VM_EVENT_INTERFACE_VERSION lay out a request alike, so a monitor may take the
     * version for the layout: same size, and every member both have at the same offset with the same size.
     * Not so for ARM's registers: 4.16 made {@code data.regs.arm.cpsr} a uint64_t (over the uint32_t and
     * its {@code _pad}) without a new version, which moves no byte of an x86 request. Different versions
     * lay it out differently (4.15 inserted {@code npt_base} and {@code vmtrace_pos}).
     */
    @Test
    void oneVersionOneLayout() {
        Map<Long, List<XenRelease>> byVersion = new TreeMap<>();
        Releases.all().map(XenRelease::parse).forEach(r -> byVersion.computeIfAbsent(
                Abi.forRelease(r).constant("VM_EVENT_INTERFACE_VERSION"), v -> new ArrayList<>()).add(r));
        assertThat(byVersion).as("the releases of each VM_EVENT_INTERFACE_VERSION").isNotEmpty();
        for (List<XenRelease> same : byVersion.values()) {
            StructLayout first = Abi.forRelease(same.get(0)).struct("vm_event_request_t");
            for (XenRelease r : same) {
                StructLayout other = Abi.forRelease(r).struct("vm_event_request_t");
                assertThat(other.size()).as("sizeof(vm_event_request_t) in %s and %s", same.get(0), r).isEqualTo(first.size());
                int compared = 0;
                for (Field f : first.fields()) {
                    if (f.path().startsWith("data.regs.arm.")) {
                        continue;
                    }
                    Field g = other.field(f.path()).orElse(null);
                    if (g != null) {
                        assertThat(List.of(g.offset(), g.size(), g.bitOffset(), g.bitWidth())).as("%s in %s and %s", f.path(), same.get(0), r)
                                .isEqualTo(List.of(f.offset(), f.size(), f.bitOffset(), f.bitWidth()));
                        compared++;
                    }
                }
                assertThat(compared).isGreaterThan(100);
            }
        }
        List<List<XenRelease>> versions = new ArrayList<>(byVersion.values());
        for (int i = 1; i < versions.size(); i++) {
            StructLayout older = Abi.forRelease(versions.get(i - 1).get(0)).struct("vm_event_request_t");
            StructLayout newer = Abi.forRelease(versions.get(i).get(0)).struct("vm_event_request_t");
            assertThat(older.fields().stream().anyMatch(f -> newer.field(f.path())
                    .map(g -> g.offset() != f.offset() || g.size() != f.size()).orElse(true)) || older.size() != newer.size())
                    .as("a new VM_EVENT_INTERFACE_VERSION (%s to %s) moves something", versions.get(i - 1).get(0),
                            versions.get(i).get(0))
                    .isTrue();
        }
    }

    /**
     * A request and a response are one struct (vm_event_st, under two typedefs) and fill one ring slot, the
     * union vm_event_sring_entry; its size is gcc's for the release (384 bytes at version 6, 400 at 7).
     */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void requestAndResponseAreOneSlot(String release) {
        Abi abi = abi(release);
        StructLayout request = abi.struct("vm_event_request_t");
        assertThat(request.name()).isEqualTo("vm_event_st");
        assertThat(abi.struct("vm_event_response_t")).isSameAs(request);
        assertThat(request.size()).as("sizeof(vm_event_request_t)").isEqualTo(measured(release, "vm_event_st").get("size").asInt());
        assertThat(abi.struct("union vm_event_sring_entry").size()).as("sizeof(union vm_event_sring_entry)")
                .isEqualTo(measured(release, "vm_event_sring_entry").get("size").asInt()).isEqualTo(request.size());
        Field data = request.field("data").orElseThrow();
        assertThat(data.offset() + data.size()).as("data (the registers) ends the request").isEqualTo(request.size());
        assertThat(data.size()).as("data is the x86 registers").isEqualTo(abi.struct("vm_event_regs_x86").size());
    }

    /**
     * The ring's entry count in one page, io/ring.h's RING_SIZE: (4096 - offsetof(ring)) / sizeof(entry)
     * rounded down to a power of two, by {@link Abi#constRingSize} from the declaration, by this test from
     * gcc's offsets and sizes, and by gcc from {@code __CONST_RING_SIZE(vm_event, 4096)} itself.
     */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void ringSizeOfAPageIsIoRingsMacro(String release) {
        int offset = measuredField(release, "vm_event_sring", "ring").get("offset").asInt();
        int entry = measured(release, "vm_event_sring_entry").get("size").asInt();
        int fromGccNumbers = Integer.highestOneBit((PAGE - offset) / entry);
        int fromMacro = constant(release, "__CONST_RING_SIZE(vm_event,4096)").get("value").asInt();
        assertThat(fromGccNumbers).isEqualTo(fromMacro);
        assertThat(abi(release).constRingSize("vm_event", PAGE)).isEqualTo(fromMacro);
    }

    /** Any room gives the largest power of two of entries that fit, never more; too little room is refused. */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void ringSizeIsTheLargestPowerOfTwoThatFits(String release) {
        Abi abi = abi(release);
        int header = abi.struct("vm_event_sring").field("ring").orElseThrow().offset();
        int entry = abi.struct("vm_event_sring_entry").size();
        qt().withExamples(300).forAll(integers().between(header + entry, 1 << 24)).checkAssert(bytes -> {
            int n = abi.constRingSize("vm_event", bytes);
            assertThat(Integer.bitCount(n)).as("%d bytes: %d entries, a power of two", bytes, n).isEqualTo(1);
            assertThat((long) header + (long) n * entry).as("%d entries fit in %d bytes", n, bytes).isLessThanOrEqualTo(bytes);
            assertThat((long) header + 2L * n * entry).as("%d entries do not fit in %d bytes", 2 * n, bytes).isGreaterThan(bytes);
        });
        assertThatThrownBy(() -> abi.constRingSize("vm_event", header + entry - 1)).isInstanceOf(AbiException.class)
                .hasMessage((header + entry - 1) + " bytes do not hold one entry of the vm_event ring: its header is "
                        + header + " bytes and an entry " + entry + " in Xen " + release + "; give at least " + (header + entry));
    }

    /** KF/x's reset in the response: the flags are (1 << 14) and (1 << 15) where the headers define them (4.17). */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#withVmEventForkReset")
    void forkResetFlagsWhereTheReleaseHasThem(String release) {
        Abi abi = abi(release);
        assertThat(abi.constant("VM_EVENT_FLAG_RESET_FORK_STATE")).isEqualTo(1L << 14)
                .isEqualTo(constant(release, "VM_EVENT_FLAG_RESET_FORK_STATE").get("value").asLong());
        assertThat(abi.constant("VM_EVENT_FLAG_RESET_FORK_MEMORY")).isEqualTo(1L << 15)
                .isEqualTo(constant(release, "VM_EVENT_FLAG_RESET_FORK_MEMORY").get("value").asLong());
    }

    /** Before 4.17 the headers do not define them (gcc's #ifdef says so), and neither does the declaration. */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#withoutVmEventForkReset")
    void noForkResetFlagsWhereTheReleaseLacksThem(String release) {
        Abi abi = abi(release);
        for (String flag : List.of("VM_EVENT_FLAG_RESET_FORK_STATE", "VM_EVENT_FLAG_RESET_FORK_MEMORY")) {
            assertThat(constant(release, flag).get("value").isNull()).as("%s undefined in Xen %s's headers", flag, release)
                    .isTrue();
            assertThat(abi.findConstant(flag)).as(flag).isEmpty();
        }
        assertThatThrownBy(() -> abi.constant("VM_EVENT_FLAG_RESET_FORK_STATE")).isInstanceOf(AbiException.class)
                .hasMessageStartingWith("\"VM_EVENT_FLAG_RESET_FORK_STATE\" is not defined in Xen " + release);
    }

    /**
     * An event a release can report comes with its request reason, its monitor_op event number and its
     * union members, or none of them: VMEXIT (4.17) and I/O instructions (4.18).
     */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void eachEventComesWithItsMembers(String release) {
        Abi abi = abi(release);
        StructLayout request = abi.struct("vm_event_st");
        StructLayout monitorOp = abi.struct("xen_domctl_monitor_op");
        boolean vmexit = abi.findConstant("VM_EVENT_REASON_VMEXIT").isPresent();
        assertThat(List.of(abi.findConstant("XEN_DOMCTL_MONITOR_EVENT_VMEXIT").isPresent(), request.field("u.vmexit").isPresent(),
                monitorOp.field("u.vmexit").isPresent())).as("VMEXIT in Xen %s", release).containsOnly(vmexit);
        boolean io = abi.findConstant("VM_EVENT_REASON_IO_INSTRUCTION").isPresent();
        assertThat(List.of(abi.findConstant("XEN_DOMCTL_MONITOR_EVENT_IO").isPresent(), request.field("u.io").isPresent()))
                .as("IO in Xen %s", release).containsOnly(io);
    }

    /** XEN_DOMCTL_vm_event_op and XEN_DOMCTL_monitor_op select their members of xen_domctl's union. */
    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void domctlSelectsTheMonitorMembers(String release) {
        Abi abi = abi(release);
        UnionSelector u = abi.struct("xen_domctl").selector().orElseThrow();
        assertThat(u.memberFor(abi.constant("XEN_DOMCTL_vm_event_op"))).contains("vm_event_op");
        assertThat(u.memberFor(abi.constant("XEN_DOMCTL_monitor_op"))).contains("monitor_op");
        assertThat(abi.struct("xen_domctl").field("u.monitor_op").orElseThrow().size())
                .isEqualTo(measuredField(release, "xen_domctl", "u.monitor_op").get("size").asInt());
    }

    private static Abi abi(String release) {
        return Abi.forRelease(XenRelease.parse(release));
    }

    private static JsonNode constant(String release, String name) {
        return ReferenceData.layouts(release).stream()
                .filter(r -> r.get("kind").asText().equals("const") && r.get("name").asText().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("gcc measured no " + name + " for Xen " + release));
    }

    private static JsonNode measured(String release, String struct) {
        return ReferenceData.layouts(release).stream()
                .filter(r -> r.get("kind").asText().equals("struct") && r.get("struct").asText().equals(struct)).findFirst()
                .orElseThrow(() -> new AssertionError("gcc measured no struct " + struct + " for Xen " + release));
    }

    private static JsonNode measuredField(String release, String struct, String path) {
        return ReferenceData.layouts(release).stream()
                .filter(r -> r.get("kind").asText().equals("field") && r.get("struct").asText().equals(struct)
                        && r.get("path").asText().equals(path)).findFirst()
                .orElseThrow(() -> new AssertionError("gcc measured no " + struct + "." + path + " for Xen " + release));
    }
}
