package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.cli.CommandRunner.Run;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimXen;
import org.xenfork.testfixtures.HvmSamples;

/**
 * {@code xenfork hvm-context get|show|set|diff|set-reg} on files (the real
 * Xen 4.17 samples) and on {@code --backend sim} domains, whose contexts the
 * simulator reads and loads through the real privcmd encoding.
 *
 * <p>Tests about one behaviour that is the same on every release run on one release, mostly 4.17
 * (Debian 12's, the headers CHeaderOracleTest compiles against); what differs by release takes its
 * releases from {@code org.xenfork.abi.Releases}.
 */
class HvmContextCommandTest extends CommandRunner {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final XenRelease XEN_4_17 = XenRelease.parse("4.17");

    @TempDir
    Path dir;

    /** Domain-0 and "web" (domain 1, 2 vCPUs, running). */
    private static SimXen web(XenRelease release) {
        SimXen x = SimXen.create(release);
        x.addGuest(GuestSpec.hvm("web", 2, 4096));
        return x;
    }

    private Path sample(String name) throws IOException {
        Path p = dir.resolve(name + ".bin");
        Files.write(p, HvmSamples.bytes(name));
        return p;
    }

    @Test
    void getWritesTheDomainsStreamWholeWithMode0600() throws IOException {
        Path out = dir.resolve("web.hvm");
        Run r = xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "get", "web", "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("domain 1's HVM context (").contains("written to " + out);
        assertThat(Files.readAllBytes(out)).isEqualTo(sim.hvmContext(1));
        assertThat(Files.getPosixFilePermissions(out)).containsExactlyInAnyOrder(PosixFilePermission.OWNER_READ,
                PosixFilePermission.OWNER_WRITE);
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("web.hvm");
        }
    }

    @Test
    void getLeavesNothingBehindWhenXenRefusesOrTheFolderIsMissing() throws IOException {
        Path out = dir.resolve("gone.hvm");
        Run missing = xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "get", "7", "-o", out.toString());
        assertThat(missing.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(missing.err()).contains("XEN_DOMCTL_gethvmcontext").contains("ESRCH");
        Run noFolder = xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "get", "1", "-o",
                dir.resolve("no/such/folder.hvm").toString());
        assertThat(noFolder.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(noFolder.err()).contains("no folder");
        assertThat(sim).as("checked before the backend opened").isNull();
        try (var files = Files.list(dir)) {
            assertThat(files).isEmpty();
        }
    }

    @Test
    void showPrintsEveryRecordByXensNames() throws IOException {
        Run r = xenfork(SimXen::create, "hvm-context", "show", sample(HvmSamples.HVM).toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).startsWith("HVM context: 4112 bytes, Xen 4.17 rules, 17 records and END")
                .containsPattern("(?m)^\\[1\\] CPU vcpu 0: 1032 bytes at 0x20$")
                .containsPattern("(?m)^    rip +0x7c47$")
                .containsPattern("(?m)^\\[3\\] PIC instance 1: 8 bytes at 0x440$")
                .containsPattern("(?m)^    redirtbl\\[0\\]\\.bits +0x700$")
                .containsPattern("(?m)^    msr_mtrr_def_type +0xc06$")
                .containsPattern("(?m)^END: instance 0, length 0 at 0x1008$");
        assertThat(r.err()).isEmpty();
        assertThat(sim).as("a file needs no Xen").isNull();
    }

    @Test
    void showJsonNestsRecordsByTypeAndVcpu() throws IOException {
        Run r = xenfork(SimXen::create, "hvm-context", "show", sample(HvmSamples.HVM).toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode o = JSON.readTree(r.out());
        assertThat(o.at("/CPU/0/rip").asText()).isEqualTo("0x7c47");
        assertThat(o.at("/CPU/0/cr0").asText()).isEqualTo("0x10");
        assertThat(o.at("/CPU/0/cs_arbytes").asText()).isEqualTo("0x9b");
        assertThat(o.at("/PIC/1/imr").asText()).isEqualTo("0x8e");
        assertThat(o.at("/LAPIC_REGS/0/data").asText()).hasSize(2048);
        assertThat(o.at("/stream/records")).hasSize(17);
        assertThat(o.at("/stream/records/4/type").asText()).isEqualTo("IOAPIC");
        assertThat(o.at("/stream/end/offset").asText()).isEqualTo("0x1008");

        Run cpu = xenfork(SimXen::create, "hvm-context", "show", sample(HvmSamples.PVH).toString(), "--json",
                "--vcpu", "0", "--type", "CPU");
        JsonNode c = JSON.readTree(cpu.out());
        assertThat(c.at("/CPU/0/rip").asText()).isEqualTo("0xffffffff81a592eb");
        assertThat(c.has("LAPIC")).isFalse();
        assertThat(c.has("PCI_IRQ")).isFalse();
    }

    @Test
    void showOfADomainOnTheSimulator() throws IOException {
        Run r = xenfork(HvmContextCommandTest::web, "--backend", "sim", "--json", "hvm-context", "show", "1", "--vcpu", "1");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode o = JSON.readTree(r.out());
        assertThat(o.at("/CPU/1/rip").asText()).isEqualTo("0xffffffff81a592eb");
        assertThat(o.at("/LAPIC/1/apic_base_msr").asText()).isEqualTo("0xfee00c00");
        assertThat(o.at("/CPU/0").isMissingNode()).isTrue();
    }

    @Test
    void badInputIsExitCode2NamingTheProblem() throws IOException {
        Path garbage = dir.resolve("garbage.bin");
        Files.writeString(garbage, "not a context at all");
        Run r = xenfork(SimXen::create, "hvm-context", "show", garbage.toString());
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains(garbage + ": record 0 (TYPE_28526, instance 8308) at offset 0x0: not an HVM context");
        assertThat(r.out()).isEmpty();

        Path cut = dir.resolve("cut.bin");
        Files.write(cut, java.util.Arrays.copyOf(HvmSamples.bytes(HvmSamples.HVM), 1200));
        assertThat(xenfork(SimXen::create, "hvm-context", "show", cut.toString()).err())
                .contains("record 4 (IOAPIC, instance 0) at offset 0x450: length 400 runs past the end of the 1200-byte stream");

        Run missing = xenfork(SimXen::create, "hvm-context", "show", dir.resolve("nope.bin").toString());
        assertThat(missing.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(missing.err()).contains("no such file");

        Path hvm = sample(HvmSamples.HVM);
        Run type = xenfork(SimXen::create, "hvm-context", "show", hvm.toString(), "--type", "VCPU");
        assertThat(type.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(type.err()).contains("no record type VCPU in Xen 4.17; types: END, HEADER, CPU, PIC");
        Run vcpu = xenfork(SimXen::create, "hvm-context", "show", hvm.toString(), "--vcpu", "3");
        assertThat(vcpu.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(vcpu.err()).contains("no records of vCPU 3; its vCPUs with a CPU record: [0]");
    }

    @Test
    void theReleaseDecidesTheLapicLength() throws Exception {
        byte[] lapic32 = HvmContext.builder(XenRelease.parse("4.21")).record(1, 0, header()).record(5, 0, new byte[32])
                .build().serialise();
        Path f = dir.resolve("lapic32.bin");
        Files.write(f, lapic32);
        Run old = xenfork(SimXen::create, "hvm-context", "show", f.toString());
        assertThat(old.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(old.err()).contains("Xen " + XenRelease.SUPPORTED.stream()
                .filter(r -> Abi.forRelease(r).struct("hvm_hw_lapic").size() == 32).map(XenRelease::toString)
                .collect(java.util.stream.Collectors.joining(", ")) + " write 32-byte LAPIC records");
        Run newer = xenfork(SimXen::create, "--xen", "4.21", "hvm-context", "show", f.toString());
        assertThat(newer.code()).as(newer.err()).isZero();
        assertThat(newer.out()).containsPattern("(?m)^    pending_esr +0x0$");
    }

    @Test
    void setRegOnAFileWritesOutAndTheSameValueGivesTheSameBytes() throws Exception {
        Path in = sample(HvmSamples.HVM);
        Path out = dir.resolve("edited.bin");
        Run r = xenfork(SimXen::create, "hvm-context", "set-reg", in.toString(), "--vcpu", "0", "rip=0x7c49", "dr7=1027",
                "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("vCPU 0: rip 0x7c47 -> 0x7c49, dr7 0x400 -> 0x403").contains("written to " + out);
        HvmContext edited = HvmContext.parse(Files.readAllBytes(out), XEN_4_17);
        assertThat(edited.find("CPU", 0).orElseThrow().number("rip")).isEqualTo(0x7c49);
        assertThat(edited).isEqualTo(HvmContext.parse(HvmSamples.bytes(HvmSamples.HVM), XEN_4_17)
                .withField("CPU", 0, "rip", BigInteger.valueOf(0x7c49)).withField("CPU", 0, "dr7", BigInteger.valueOf(0x403)));

        Path same = dir.resolve("same.bin");
        Run s = xenfork(SimXen::create, "hvm-context", "set-reg", in.toString(), "--vcpu", "0", "rip=0x7c47", "-o", same.toString());
        assertThat(s.code()).as(s.err()).isZero();
        assertThat(Files.readAllBytes(same)).isEqualTo(HvmSamples.bytes(HvmSamples.HVM));
    }

    @Test
    void setRegRefusesBadNamesValuesAndUsageBeforeWriting() throws IOException {
        Path in = sample(HvmSamples.HVM);
        Path out = dir.resolve("out.bin");
        for (List<String> args : List.of(
                List.of("--vcpu", "0", "rip=0x1" + "0".repeat(16)),
                List.of("--vcpu", "0", "ripp=1"),
                List.of("--vcpu", "0", "cs_sel=0x10000"),
                List.of("--vcpu", "1", "rip=1"),
                List.of("--vcpu", "0", "rip"),
                List.of("--vcpu", "0", "rip=0xzz"))) {
            List<String> cmd = new java.util.ArrayList<>(List.of("hvm-context", "set-reg", in.toString()));
            cmd.addAll(args);
            cmd.addAll(List.of("-o", out.toString()));
            Run r = xenfork(SimXen::create, cmd.toArray(String[]::new));
            assertThat(r.code()).as("%s: %s", args, r.err()).isEqualTo(Main.EXIT_USAGE);
            assertThat(Files.exists(out)).as(args.toString()).isFalse();
        }
        assertThat(xenfork(SimXen::create, "hvm-context", "set-reg", in.toString(), "--vcpu", "0", "rip=0x1" + "0".repeat(16),
                "-o", out.toString()).err()).contains("rip is uint64_t (64 bits): value 0x10000000000000000 does not fit"
                + " (allowed 0 .. 0xffffffffffffffff)");
        assertThat(xenfork(SimXen::create, "hvm-context", "set-reg", in.toString(), "--vcpu", "0", "rip=1").err())
                .contains("set-reg on a file writes the result to -o OUT");
    }

    @Test
    void setRegOnADomainPausesLoadsAndUnpauses() {
        Run r = xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "set-reg", "web", "--vcpu", "1",
                "rax=0x1234", "pending_vector=14");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("domain 1 vCPU 1: rax 0xffffffff81a59180 -> 0x1234, pending_vector 0x0 -> 0xe");
        HvmContext after = parse(sim.hvmContext(1));
        assertThat(after.find("CPU", 1).orElseThrow().number("rax")).isEqualTo(0x1234);
        assertThat(after.find("CPU", 0).orElseThrow().number("rax")).isEqualTo(0xffffffff81a59180L);
        assertThat(sim.domain(1).orElseThrow().isPaused()).as("unpaused again").isFalse();
        List<String> calls = sim.calls().stream().map(c -> c.call().shortName()).filter(n -> n.startsWith("XEN_DOMCTL_"))
                .filter(n -> !n.equals("XEN_DOMCTL_getdomaininfo")).toList();
        assertThat(calls).containsExactly("XEN_DOMCTL_gethvmcontext", "XEN_DOMCTL_gethvmcontext", "XEN_DOMCTL_pausedomain",
                "XEN_DOMCTL_gethvmcontext", "XEN_DOMCTL_gethvmcontext", "XEN_DOMCTL_sethvmcontext", "XEN_DOMCTL_unpausedomain");
    }

    @Test
    void setRegOnADomainChecksEverythingBeforeItPauses() {
        Run r = xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "set-reg", "1", "--vcpu", "0",
                "rax=1", "dr6=0x100000000");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("dr6: the upper 32 bits are reserved");
        assertThat(sim.calls()).noneMatch(c -> SimCall.named("XEN_DOMCTL_pausedomain").test(c.call())
                || SimCall.named("XEN_DOMCTL_sethvmcontext").test(c.call()));
    }

    @Test
    void setRegUnpausesWhenXenRefusesTheLoad() {
        Run r = xenfork(x -> {
            SimXen s = web(x);
            s.injectFault(SimCall.named("XEN_DOMCTL_sethvmcontext"), org.xenfork.privcmd.Errno.EINVAL);
            return s;
        }, "--backend", "sim", "hvm-context", "set-reg", "1", "--vcpu", "0", "rax=1");
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.err()).contains("XEN_DOMCTL_sethvmcontext").contains("EINVAL");
        assertThat(sim.domain(1).orElseThrow().isPaused()).isFalse();
        assertThat(sim.domain(1).orElseThrow().controllerPauseCount()).isZero();
    }

    @Test
    void setLoadsAFileIntoADomain() throws IOException {
        Path ctx = dir.resolve("web.hvm");
        SimXen[] machine = new SimXen[1];
        xenfork(r -> machine[0] = web(r), "--backend", "sim", "hvm-context", "get", "1", "-o", ctx.toString());
        Path edited = dir.resolve("web-edited.hvm");
        xenfork(SimXen::create, "hvm-context", "set-reg", ctx.toString(), "--vcpu", "0", "rip=0x1000", "-o", edited.toString());
        Run r = xenfork(x -> machine[0], "--backend", "sim", "hvm-context", "set", "1", edited.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("loaded into domain 1");
        assertThat(sim.hvmContext(1)).isEqualTo(Files.readAllBytes(edited));
    }

    @Test
    void setRefusesWhatXensLoaderWouldBeforeLoading() throws Exception {
        // an unknown typecode, and a vCPU the domain does not have: exit 2, no sethvmcontext
        byte[] base = web(XEN_4_17).hvmContext(1);
        HvmContext ctx = parse(base);
        Path unknown = dir.resolve("unknown.hvm");
        Files.write(unknown, withExtraRecord(ctx, 25, 0, new byte[8]));
        Path vcpu5 = dir.resolve("vcpu5.hvm");
        Files.write(vcpu5, withExtraRecord(ctx, 2, 5, new byte[1032]));
        for (Path f : List.of(unknown, vcpu5)) {
            Run r = xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "set", "1", f.toString());
            assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
            assertThat(sim.calls()).noneMatch(c -> SimCall.named("XEN_DOMCTL_sethvmcontext").test(c.call()));
        }
        assertThat(xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "set", "1", unknown.toString()).err())
                .contains("typecode 25 is no record type of Xen 4.17");
        assertThat(xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "set", "1", vcpu5.toString()).err())
                .contains("CPU vcpu 5, but the domain has vCPUs 0 to 1").contains("(domain 1)");
        // the real HVM guest's PIC, IOAPIC, ... are records this simulator has no handler for: Xen-style EINVAL, exit 1
        Run real = xenfork(HvmContextCommandTest::web, "--backend", "sim", "hvm-context", "set", "1", sample(HvmSamples.HVM).toString());
        assertThat(real.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(real.err()).contains("XEN_DOMCTL_sethvmcontext").contains("EINVAL");
    }

    @Test
    void diffShowsFieldsPerRecordAndVcpu() throws IOException {
        Path a = sample(HvmSamples.HVM);
        Path b = dir.resolve("b.bin");
        xenfork(SimXen::create, "hvm-context", "set-reg", a.toString(), "--vcpu", "0", "rip=0x7c49", "-o", b.toString());
        Run r = xenfork(SimXen::create, "hvm-context", "diff", a.toString(), b.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("CPU vcpu 0: rip 0x7c47 -> 0x7c49" + System.lineSeparator());
        Run json = xenfork(SimXen::create, "--json", "hvm-context", "diff", a.toString(), b.toString());
        JsonNode d = JSON.readTree(json.out());
        assertThat(d).hasSize(1);
        assertThat(d.get(0).get("field").asText()).isEqualTo("rip");
        assertThat(d.get(0).get("vcpu").asBoolean()).isTrue();
        Run same = xenfork(SimXen::create, "hvm-context", "diff", a.toString(), a.toString());
        assertThat(same.out()).isEmpty();
        assertThat(same.err()).contains("have the same HVM context");
    }

    @Test
    void diffOfTwoDomains() {
        Run r = xenfork(x -> {
            SimXen s = web(x);
            s.addGuest(GuestSpec.hvm("db", 1, 4096));
            return s;
        }, "--backend", "sim", "hvm-context", "diff", "web", "db");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("CPU vcpu 1: 1032 bytes -> (absent)").contains("MTRR vcpu 1: 240 bytes -> (absent)")
                .doesNotContain("CPU vcpu 0:");
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static HvmContext parse(byte[] bytes) {
        try {
            return HvmContext.parse(bytes, XEN_4_17);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** The real sample's HEADER body (after its 8-byte descriptor). */
    private static byte[] header() {
        return java.util.Arrays.copyOfRange(HvmSamples.bytes(HvmSamples.HVM), 8, 32);
    }

    /** The context with one more record before END, written with the library's builder. */
    private static byte[] withExtraRecord(HvmContext ctx, int typecode, int instance, byte[] body) throws Exception {
        HvmContext.Builder b = HvmContext.builder(ctx.release());
        ctx.records().forEach(r -> b.record(r.typecode(), r.instance(), r.body()));
        return b.record(typecode, instance, body).build().serialise();
    }
}
