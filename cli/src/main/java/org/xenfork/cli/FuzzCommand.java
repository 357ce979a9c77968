package org.xenfork.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.math.BigInteger;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import org.xenfork.abi.AbiException;
import org.xenfork.abi.Values;
import org.xenfork.fork.StopRequest;
import org.xenfork.fuzz.Campaign;
import org.xenfork.fuzz.Findings;
import org.xenfork.fuzz.FuzzException;
import org.xenfork.fuzz.FuzzRequestException;
import org.xenfork.fuzz.FuzzTarget;
import org.xenfork.fuzz.Fuzzer;
import org.xenfork.fuzz.HavocMutator;
import org.xenfork.wire.FileKind;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code xenfork fuzz}: the fuzz module's {@link Fuzzer} and {@link Campaign} from the command line,
 * with seeds read through {@link InputFiles}, findings under {@code --out} and a status line.
 */
@Command(name = "fuzz",
        description = "Fuzz a paused guest through its forks: write each input into a fork, run it to a done or crash "
                + "breakpoint, reset the fork; save the inputs that crash or hang it.",
        footer = {"", "Set-up, as KF/x: a \"sink\" fork of PARENT gets the breakpoints (PARENT's memory is never written), a",
            "fuzz fork of the sink gets the vm_event monitor ring; both are destroyed at the end, also on a failure or",
            "Ctrl-C. PARENT must be paused where it is about to read its input, or give --start-cpuid LEAF: PARENT is",
            "then run until it executes CPUID with that leaf (the harness signal) and paused just past it.",
            "Each iteration writes the input at --input ADDRESS:SIZE (guest-physical, or guest-virtual with --virtual,",
            "translated once through PARENT's vCPU 0 page tables, like --done and --crash), the input's bytes then",
            "zeros up to SIZE, lets the fork run until a --done breakpoint, a --crash breakpoint or --timeout-ms (a hang),",
            "and resets the fork: in the vm_event response on Xen 4.17+, else with fork_reset.",
            "Inputs: each seed once as it is, then havoc mutations of them (bit and byte flips, interesting values,",
            "arithmetic, block insertions, deletions and overwrites, splices), the same ones for the same --random-seed.",
            "--seed is a file or a folder of them (regular files, in name order, at most " + FuzzCommand.MAX_SEED_FILES,
            "files of at most 1 MiB each; longer ones are cut to SIZE); without it the one seed is SIZE zero bytes.",
            "Findings: OUT/crashes/crash-ADDRESS-HASH and OUT/hangs/hang-HASH (the input's bytes; HASH the first 16",
            "hex digits of its SHA-256; a name that exists is not written again), folders 0700, files 0600.",
            "Stops after --iterations N, --time S or Ctrl-C. Status on stderr (one line updated in place on a terminal,",
            "else a line every " + StatusLine.LOG_EVERY_SECONDS + " s); at the end a summary on stderr and the new crash files on stdout, or",
            "with --json one object: {\"iterations\", \"crashes\", \"hangs\", \"elapsed_s\", \"iterations_per_second\",",
            "\"crash_files\", \"hang_files\", \"interrupted\"} (crashes and hangs count iterations; the files are new ones).",
            "Exit codes: 0 no crash; " + FuzzCommand.EXIT_CRASH + " a crash was found; 1 Xen refused a step; 2 bad arguments; 130 Ctrl-C.",
            "Examples:",
            "  xenfork fuzz 5 --input 0x20000:64 --done 0x5020 --crash 0x5010 --iterations 100000 --out /var/lib/fuzz5",
            "  xenfork fuzz target --start-cpuid 0x13371337 --virtual --input 0xffffffff82000000:4096 \\",
            "      --done 0xffffffff81001000 --crash 0xffffffff81002000,0xffffffff81003000 --seed seeds/ --time 3600 --json"})
final class FuzzCommand implements Callable<Integer> {
    /** Exit code of a run that found a crash, so that scripts can tell. */
    static final int EXIT_CRASH = 4;
    static final int MAX_SEED_FILES = 1024;
    /** The bytes all seed files together may hold. */
    static final long MAX_SEED_BYTES = 64L << 20;
    private static final long MAX_TIME = 366L * 24 * 3600;

    @ParentCommand
    XenforkCommand root;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "PARENT", description = "The domain to fork (id or name): HVM or PVH, paused at its input.")
    String parent;

    @Option(names = "--input", required = true, paramLabel = "ADDRESS:SIZE",
            description = "Where the input buffer is and its size in bytes (1 to 1048576).")
    String input;

    @Option(names = "--done", required = true, paramLabel = "ADDRESS", description = "The breakpoint reached when an input ran through.")
    String done;

    @Option(names = "--crash", required = true, split = ",", paramLabel = "ADDRESS",
            description = "The breakpoints that mean a crash (comma-separated or repeated).")
    List<String> crashes = new ArrayList<>();

    @Option(names = "--start-cpuid", paramLabel = "LEAF", description = "Run PARENT until it executes CPUID with this leaf first.")
    String startCpuid;

    @Option(names = "--virtual", description = "The addresses are guest-virtual (PARENT's vCPU 0 page tables).")
    boolean virtual;

    @Option(names = "--breakpoint-insn", paramLabel = "icebp|int3", description = "The breakpoint instruction: icebp (0xF1, default) or int3.")
    MonitorCommand.BreakpointInsn breakpointInsn;

    @Option(names = "--seed", paramLabel = "FILE|DIR", description = "The seed input, or a folder of them.")
    Path seed;

    @Option(names = "--iterations", paramLabel = "N", description = "Stop after N inputs.")
    Long iterations;

    @Option(names = "--time", paramLabel = "S", description = "Stop after S seconds.")
    Long time;

    @Option(names = "--timeout-ms", paramLabel = "T", description = "An input that runs longer is a hang (default 1000).")
    Long timeoutMs;

    @Option(names = "--random-seed", paramLabel = "R", description = "The mutator's seed (default: random, printed).")
    String randomSeed;

    @Option(names = "--out", paramLabel = "DIR", description = "Where crashes/ and hangs/ go (default ./fuzz-out).")
    Path out = Path.of("fuzz-out");

    @Override
    public Integer call() {
        if (root.dryRun) {
            throw new UsageException("fuzz writes into forks and runs them: it has no --dry-run (use --trace to see its hypercalls)");
        }
        DomainArgument arg = DomainArgument.parse(parent, "fuzz");
        int colon = input.lastIndexOf(':');
        if (colon <= 0 || colon == input.length() - 1) {
            throw new UsageException("--input must be ADDRESS:SIZE, e.g. 0x20000:64, not " + Values.quoted(input));
        }
        long inputAddress = MemCommand.address(input.substring(0, colon), "--input ADDRESS");
        long size = MemCommand.address(input.substring(colon + 1), "--input SIZE");
        if (size < 1 || size > FuzzTarget.MAX_INPUT_SIZE) {
            throw new UsageException("--input SIZE must be 1 to " + FuzzTarget.MAX_INPUT_SIZE + " bytes (1 MiB), not "
                    + Values.quoted(input.substring(colon + 1)));
        }
        long doneAddress = MemCommand.address(done, "--done ADDRESS");
        List<Long> crashAddresses = new ArrayList<>();
        for (String c : crashes) {
            crashAddresses.add(MemCommand.address(c, "--crash ADDRESS"));
        }
        OptionalLong leaf = OptionalLong.empty();
        if (startCpuid != null) {
            long l = MemCommand.address(startCpuid, "--start-cpuid LEAF");
            if (l > 0xffff_ffffL || l < 0) {
                throw new UsageException("--start-cpuid LEAF is a 32-bit CPUID leaf (0 to 0xffffffff), not " + Values.quoted(startCpuid));
            }
            leaf = OptionalLong.of(l);
        }
        if (iterations != null && iterations < 1) {
            throw new UsageException("--iterations must be 1 or more, not " + iterations);
        }
        if (time != null && (time < 1 || time > MAX_TIME)) {
            throw new UsageException("--time must be 1 to " + MAX_TIME + " seconds, not " + time);
        }
        long timeout = timeoutMs == null ? FuzzTarget.DEFAULT_TIMEOUT.toMillis() : timeoutMs;
        if (timeout < 1 || timeout > FuzzTarget.MAX_TIMEOUT.toMillis()) {
            throw new UsageException("--timeout-ms must be 1 to " + FuzzTarget.MAX_TIMEOUT.toMillis() + " (an hour), not " + timeout);
        }
        long random = randomSeed == null ? ThreadLocalRandom.current().nextLong() : randomSeed(randomSeed);
        FuzzTarget target;
        try {
            target = new FuzzTarget(1, inputAddress, (int) size, doneAddress, crashAddresses, virtual,
                    (breakpointInsn == null ? MonitorCommand.BreakpointInsn.icebp : breakpointInsn).instruction,
                    Duration.ofMillis(timeout), leaf);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        List<byte[]> seeds = seeds();
        HavocMutator mutator = new HavocMutator(seeds, (int) size, random);
        Findings findings;
        try {
            findings = Findings.in(out);
        } catch (IOException e) {
            throw new UsageException("--out " + out + ": " + e.getMessage());
        }
        PrintWriter err = spec.commandLine().getErr();
        StopRequest stop = root.signals.install(err);
        try (Backend b = Backend.open(root, err)) {
            int d = arg.resolve(b);
            if (randomSeed == null) {
                err.println("xenfork: random seed " + random + " (give --random-seed " + random + " to repeat these inputs)");
            }
            return run(b, withParent(target, d), mutator, findings, stop, err);
        }
    }

    private static FuzzTarget withParent(FuzzTarget t, int parent) {
        return new FuzzTarget(parent, t.inputAddress(), t.inputSize(), t.done(), t.crashes(), t.virtual(), t.instruction(),
                t.timeout(), t.startCpuidLeaf());
    }

    private static long randomSeed(String text) {
        try {
            BigInteger v = Values.parse("--random-seed R", text);
            if (v.bitLength() > 64 || v.signum() < 0 && v.bitLength() > 63) {
                throw new UsageException("--random-seed R is a 64-bit number, not " + Values.quoted(text));
            }
            return v.longValue();
        } catch (AbiException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private int run(Backend b, FuzzTarget target, HavocMutator mutator, Findings findings, StopRequest stop, PrintWriter err) {
        Campaign.Summary s;
        StatusLine statusLine = new StatusLine(err, StatusLine.onTerminal());
        Campaign.Status status = new Campaign.Status(statusLine.every(), p -> statusLine.show(line(p)));
        try (Fuzzer f = Fuzzer.start(b.xen(), b.privcmd(), target, stop, Backend.notices(err))) {
            err.println("xenfork: fuzzing domain " + target.parent() + " through fork " + f.fork() + " (reset "
                    + (f.resetsInResponse() ? "in the vm_event response" : "with fork_reset") + "); Ctrl-C to stop");
            s = Campaign.run(f, mutator, new Campaign.Limits(iterations == null ? 0 : iterations,
                    time == null ? null : Duration.ofSeconds(time)), findings, stop, status);
        } catch (FuzzRequestException e) {
            throw new UsageException(e.getMessage());
        } catch (FuzzException e) {
            throw new RefusedException(e.getMessage(), e);
        } finally {
            statusLine.end(); // the summary or the error starts on a line of its own
        }
        print(s, err);
        return s.progress().crashes() > 0 ? EXIT_CRASH : Main.EXIT_OK;
    }

    private static String line(Campaign.Progress p) {
        return String.format(Locale.ROOT, "xenfork: %d iterations, %.1f/s, %d crashes, %d hangs, %.0f s", p.iterations(),
                p.perSecond(), p.crashes(), p.hangs(), p.elapsedSeconds());
    }

    private void print(Campaign.Summary s, PrintWriter err) {
        PrintWriter stdout = spec.commandLine().getOut();
        Campaign.Progress p = s.progress();
        err.println(line(p).replace("xenfork: ", "xenfork: done: ") + (s.stopped() ? "; stopped by "
                + root.signals.request().reason().orElse("a stop request") : "") + "; crashes in " + findingsNote(s));
        if (root.json) {
            ObjectNode o = AbiCommand.JSON.createObjectNode().put("iterations", p.iterations()).put("crashes", p.crashes())
                    .put("hangs", p.hangs()).put("elapsed_s", round(p.elapsedSeconds()))
                    .put("iterations_per_second", round(p.perSecond()));
            ArrayNode files = o.putArray("crash_files");
            s.crashFiles().forEach(f -> files.add(f.toString()));
            ArrayNode hangs = o.putArray("hang_files");
            s.hangFiles().forEach(f -> hangs.add(f.toString()));
            o.put("interrupted", s.stopped());
            stdout.println(o);
        } else {
            s.crashFiles().forEach(stdout::println);
        }
        stdout.flush();
    }

    private String findingsNote(Campaign.Summary s) {
        return out.resolve("crashes") + " (" + s.crashFiles().size() + " new), hangs in " + out.resolve("hangs") + " ("
                + s.hangFiles().size() + " new)";
    }

    private static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

    /** The seeds: --seed's file, or its folder's regular files in name order; none without --seed. */
    private List<byte[]> seeds() {
        List<byte[]> seeds = new ArrayList<>();
        if (seed == null) {
            return seeds;
        }
        String what = "a seed input of at most " + FuzzTarget.MAX_INPUT_SIZE + " bytes";
        FileKind kind;
        try {
            kind = FileKind.of(seed).orElseThrow(() -> new UsageException("--seed: no such file or folder: " + seed));
        } catch (IOException e) {
            throw new UsageException("--seed " + seed + ": " + e.getMessage());
        }
        if (kind != FileKind.DIRECTORY) {
            seeds.add(InputFiles.read(seed, FuzzTarget.MAX_INPUT_SIZE, what));
            return seeds;
        }
        List<Path> files = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(seed)) {
            for (Path p : entries) {
                if (FileKind.of(p, LinkOption.NOFOLLOW_LINKS).orElse(null) == FileKind.REGULAR_FILE) {
                    files.add(p);
                    if (files.size() > MAX_SEED_FILES) {
                        throw new UsageException("--seed " + seed + " holds more than " + MAX_SEED_FILES
                                + " files: give a folder of at most that many seeds");
                    }
                }
            }
        } catch (IOException e) {
            throw new UsageException("--seed " + seed + ": cannot list the folder: " + e.getMessage());
        }
        files.sort(null);
        long total = 0;
        for (Path p : files) {
            byte[] b = InputFiles.read(p, FuzzTarget.MAX_INPUT_SIZE, what);
            total += b.length;
            if (total > MAX_SEED_BYTES) {
                throw new UsageException("the seeds in " + seed + " hold more than " + (MAX_SEED_BYTES >> 20)
                        + " MiB together: give fewer or smaller ones");
            }
            seeds.add(b);
        }
        if (seeds.isEmpty()) {
            throw new UsageException("--seed " + seed + " holds no regular file: give a folder of seed inputs");
        }
        return seeds;
    }
}
