package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.XenRelease;
import org.xenfork.privcmd.Errno;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;

/**
 * {@code xenfork fuzz} on the simulator. The target's guest is played from the hypercall hooks: once the
 * fuzz fork (a fork of a fork of the parent) can run, it reads its first input byte and executes the icebp
 * at the crash address for {@link #PLANTED}, at the done address otherwise.
 */
class FuzzCommandTest extends CommandRunner {
    private static final int PARENT = 1;
    private static final long INPUT = 0x20000;
    private static final long DONE = 0x5020;
    private static final long CRASH = 0x5010;
    private static final byte PLANTED = 0x5a;
    private static final byte ORIGINAL = (byte) 0x90;

    @TempDir
    Path dir;

    private SimXen machine;
    private final List<byte[]> ran = new ArrayList<>();
    private int ranIn = -1;
    /** The guest asks for a stop (Ctrl-C) as it runs this input (1-based); -1: never. */
    private int stopAtRun = -1;

    @BeforeEach
    void machine() {
        machine = parentAndWeb(XenRelease.parse("4.17"));
        machine.writeGuestMemory(PARENT, DONE, new byte[] {ORIGINAL});
        machine.writeGuestMemory(PARENT, CRASH, new byte[] {ORIGINAL});
        arm();
    }

    private void arm() {
        machine.afterCall(c -> true, c -> {
            arm();
            guestRuns();
        });
    }

    /** The fuzz fork, if it can run and has not run since it was paused, runs its input. */
    private void guestRuns() {
        OptionalInt fork = machine.domains().stream()
                .filter(d -> !d.isDying() && d.parent().isPresent() && machine.domain(d.parent().getAsInt())
                        .map(SimDomain::parent).orElse(OptionalInt.empty()).orElse(-1) == PARENT)
                .mapToInt(SimDomain::domid).findFirst();
        if (fork.isEmpty()) {
            return;
        }
        int f = fork.getAsInt();
        if (machine.domain(f).orElseThrow().isPaused()) {
            ranIn = -1;
            return;
        }
        if (machine.vcpuPausedByVmEvent(f, 0)) {
            ranIn = -1; // its run ended at a breakpoint: answered and not paused, it runs (the input) again
            return;
        }
        if (ranIn == f) {
            return;
        }
        ranIn = f;
        byte[] in = machine.readGuestMemory(f, INPUT, 16);
        ran.add(in);
        if (ran.size() == stopAtRun) {
            top.signals.request().request("SIGINT (test)");
        }
        if (machine.executeIcebp(f, 0, in[0] == PLANTED ? CRASH : DONE)) {
            ranIn = -1; // its run ended at the breakpoint: once answered and not paused, it runs again
        }
    }

    private Run fuzz(String... args) {
        List<String> all = new ArrayList<>(List.of("--backend", "sim", "fuzz"));
        all.addAll(List.of(args));
        return xenfork(r -> machine, all.toArray(String[]::new));
    }

    private Path seed(String name, byte... bytes) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private void assertNothingLeft() {
        assertThat(machine.domains().stream().map(SimDomain::domid)).containsExactly(0, PARENT, 2);
        assertThat(machine.domain(PARENT).orElseThrow().controllerPauseCount()).isEqualTo(1);
        assertThat(machine.monitorRingEnabled(PARENT)).isFalse();
        assertThat(machine.readGuestMemory(PARENT, CRASH, 1)[0]).isEqualTo(ORIGINAL);
        assertThat(machine.readGuestMemory(PARENT, DONE, 1)[0]).isEqualTo(ORIGINAL);
    }

    @Test
    void aCrashIsSavedReportedInJsonAndExits4() throws Exception {
        Path s = seed("s", PLANTED, (byte) 1, (byte) 2);
        Path out = dir.resolve("out");
        Run r = fuzz("parent", "--input", "0x20000:16", "--done", "0x5020", "--crash", "0x5010,0x5030", "--seed", s.toString(),
                "--iterations", "3", "--random-seed", "1", "--out", out.toString(), "--json");
        assertThat(r.code()).as(r.err()).isEqualTo(FuzzCommand.EXIT_CRASH);
        JsonNode j = AbiCommand.JSON.readTree(r.out());
        assertThat(j.get("iterations").asLong()).isEqualTo(3);
        assertThat(j.get("crashes").asLong()).isBetween(1L, 3L);
        assertThat(j.get("hangs").asLong()).isZero();
        assertThat(j.get("interrupted").asBoolean()).isFalse();
        assertThat(j.has("elapsed_s")).isTrue();
        assertThat(j.has("iterations_per_second")).isTrue();
        String file = j.get("crash_files").get(0).asText();
        assertThat(Path.of(file).getParent()).isEqualTo(out.resolve("crashes"));
        assertThat(Path.of(file).getFileName().toString()).matches("crash-0x5010-[0-9a-f]{16}");
        assertThat(Files.readAllBytes(Path.of(file))).as("the seed itself ran first, and crashed").isEqualTo(new byte[] {PLANTED, 1, 2});
        assertThat(ran.get(0)).isEqualTo(Arrays.copyOf(new byte[] {PLANTED, 1, 2}, 16));
        assertThat(r.err()).contains("sink fork").contains("reset in the vm_event response").contains("done: 3 iterations");
        assertNothingLeft();
    }

    @Test
    void noCrashIsExit0AndPrintsNoFile() throws Exception {
        Path s = seed("s", (byte) 1);
        Run r = fuzz("parent", "--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--seed", s.toString(),
                "--iterations", "1", "--out", dir.resolve("o").toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("random seed").contains("--random-seed");
        assertNothingLeft();
    }

    @Test
    void aSeedFolderIsReadInNameOrderAndItsOtherEntriesSkipped() throws Exception {
        Path seeds = Files.createDirectory(dir.resolve("seeds"));
        Files.write(seeds.resolve("b"), new byte[] {2});
        Files.write(seeds.resolve("a"), new byte[] {1});
        Files.createDirectory(seeds.resolve("c-folder"));
        Run r = fuzz("parent", "--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--seed", seeds.toString(),
                "--iterations", "2", "--random-seed", "0x10", "--out", dir.resolve("o").toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(ran).hasSize(2);
        assertThat(ran.get(0)[0]).isEqualTo((byte) 1);
        assertThat(ran.get(1)[0]).isEqualTo((byte) 2);
    }

    @Test
    void virtualAddressesAreTranslatedThroughTheParentsPageTables() throws Exception {
        entry(0x10000, 0x11003); // PML4E 0
        entry(0x11000, 0x12003); // PDPTE 0
        entry(0x12010, 0x13003); // PDE 2: 0x400000 >> 21
        entry(0x13000, 0x20003); // PTE 0: 0x400000 is guest-physical 0x20000 (the input)
        entry(0x13008, 0x5003);  // PTE 1: 0x401000 is guest-physical 0x5000 (done and crash)
        Run regs = xenfork(x -> machine, "--backend", "sim", "hvm-context", "set-reg", "parent", "--vcpu", "0",
                "cr0=0x80000011", "cr3=0x10000", "cr4=0x20", "msr_efer=0x500");
        assertThat(regs.code()).as(regs.err()).isZero();
        Path s = seed("s", PLANTED);
        Run r = fuzz("parent", "--virtual", "--input", "0x400000:8", "--done", "0x401020", "--crash", "0x401010",
                "--seed", s.toString(), "--iterations", "1", "--out", dir.resolve("o").toString(), "--json");
        assertThat(r.code()).as(r.err()).isEqualTo(FuzzCommand.EXIT_CRASH);
        assertThat(r.out()).contains("crash-0x401010-");
        Run miss = fuzz("parent", "--virtual", "--input", "0x402000:8", "--done", "0x401020", "--crash", "0x401010",
                "--iterations", "1", "--out", dir.resolve("o").toString());
        assertThat(miss.code()).isEqualTo(1);
        assertThat(miss.err()).contains("the input buffer at guest-virtual 0x402000").contains("PTE");
        assertNothingLeft();
    }

    private void entry(long at, long value) {
        machine.writeGuestMemory(PARENT, at, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array());
    }

    @Test
    void aRunningParentWithoutAHarnessIsExit2() {
        Run r = fuzz("web", "--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--iterations", "1",
                "--out", dir.resolve("o").toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("domain 2 is running").contains("--start-cpuid");
        assertThat(machine.domain(2).orElseThrow().isPaused()).isFalse();
    }

    @Test
    void ctrlCStopsTheRunPrintsTheSummaryAndLeavesNothing() throws Exception {
        stopAtRun = 3; // the stop comes as the guest runs its third input
        Run r = fuzz("parent", "--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--out",
                dir.resolve("o").toString(), "--json");
        assertThat(r.code()).as(r.err()).isEqualTo(130);
        JsonNode j = AbiCommand.JSON.readTree(r.out());
        assertThat(j.get("interrupted").asBoolean()).isTrue();
        assertThat(j.get("iterations").asLong()).isEqualTo(3); // the one in progress ends before the stop is seen
        assertThat(r.err()).contains("stopped by SIGINT (test)");
        assertNothingLeft();
    }

    @Test
    void aStepXenRefusesIsExit1AndLeavesNothing() {
        machine.injectFault(SimCall.named("XENMEM_sharing_op_fork"), Errno.EIO, 2);
        Run r = fuzz("parent", "--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--iterations", "1",
                "--out", dir.resolve("o").toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("XENMEM_sharing_op_fork").contains("EIO");
        assertNothingLeft();
    }

    @Test
    void badArgumentsAreExit2NamingWhatWasWrong() throws Exception {
        String o = dir.resolve("o").toString();
        String[][] cases = {
            {"--done", "0x5020", "--crash", "0x5010"},
            {"--input", "0x20000", "--done", "0x5020", "--crash", "0x5010"},
            {"--input", "0x20000:0", "--done", "0x5020", "--crash", "0x5010"},
            {"--input", "0x20000:0x100001", "--done", "0x5020", "--crash", "0x5010"},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5020"},
            {"--input", "0x20000:4", "--done", "0x20002", "--crash", "0x5010"},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--timeout-ms", "0"},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--iterations", "0"},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--time", "0"},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--start-cpuid", "0x100000000"},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--seed", dir.resolve("none").toString()},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--breakpoint-insn", "int1"},
            {"--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--random-seed", "x"},
        };
        String[] expected = {"--input", "ADDRESS:SIZE", "1 to 1048576", "1 to 1048576", "done address too",
            "inside the input buffer", "--timeout-ms", "--iterations", "--time", "32-bit", "no such file", "--breakpoint-insn",
            "--random-seed"};
        for (int i = 0; i < cases.length; i++) {
            List<String> args = new ArrayList<>(List.of("parent", "--out", o));
            args.addAll(List.of(cases[i]));
            Run r = fuzz(args.toArray(String[]::new));
            assertThat(r.code()).as(String.join(" ", cases[i]) + ": " + r.err()).isEqualTo(2);
            assertThat(r.err()).as(String.join(" ", cases[i])).contains(expected[i]);
        }
        Files.createDirectory(dir.resolve("empty"));
        Run empty = fuzz("parent", "--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--seed",
                dir.resolve("empty").toString(), "--out", o);
        assertThat(empty.code()).isEqualTo(2);
        assertThat(empty.err()).contains("holds no regular file");
        Files.writeString(dir.resolve("file"), "x");
        Run notFolder = fuzz("parent", "--input", "0x20000:4", "--done", "0x5020", "--crash", "0x5010", "--out",
                dir.resolve("file").toString());
        assertThat(notFolder.code()).isEqualTo(2);
        assertThat(notFolder.err()).contains("not a folder");
        Run dry = xenfork(x -> machine, "--backend", "sim", "--dry-run", "fuzz", "parent", "--input", "0x20000:4", "--done",
                "0x5020", "--crash", "0x5010");
        assertThat(dry.code()).isEqualTo(2);
        assertThat(dry.err()).contains("no --dry-run");
        assertThat(machine.domains()).hasSize(3);
    }

    @Test
    void helpHasExamplesAndTheExitCodes() {
        Run r = fuzz("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("Examples:").contains("xenfork fuzz 5 --input").contains("4 a crash was found");
    }
}
