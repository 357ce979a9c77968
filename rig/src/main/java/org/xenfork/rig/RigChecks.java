package org.xenfork.rig;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.xenfork.abi.Abi;
import org.xenfork.abi.Leaf;
import org.xenfork.abi.StructLayout;
import org.xenfork.cli.Main;
import org.xenfork.fork.HvmContextLoader;
import org.xenfork.hvmcontext.HvmContext;
import org.xenfork.privcmd.DomainConfig;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.LinuxSeam;
import org.xenfork.privcmd.Privcmd;

/**
 * The real-Xen tier: runs inside the rig's dom0 (rig/), one JVM for
 * every check, because a JVM start costs seconds under the rig's emulation.
 * xenfork's commands run in-process ({@link Main#run}); the judges are Xen's own
 * tools there: {@code xl}, {@code xenstore-*}, and libxenctrl through the rig's
 * {@code xctest}. Prints {@code ok:} / {@code FAIL:} lines; the exit code is the
 * number of failures (capped at 100).
 *
 * <pre>
 *   java -cp cli/target/xenfork.jar:rig/target/classes org.xenfork.rig.RigChecks stock|memshr GUEST [HVM]
 * </pre>
 *
 * GUEST is a running {@code xen-rig guest tiny} (it counts "tiny tick N" on port 0xE9,
 * read back with {@code xl dmesg}); guests run while xenfork works on them, as users'
 * guests do, and a check that needs one paused pauses it itself, verifies that with
 * {@code xl list}, and lets it run again. {@code stock}: Debian's hypervisor, where forking
 * must fail with ENOSYS; {@code memshr}: the rig's memory-sharing build, where forks run.
 * HVM, if given, is a running {@code xen-rig guest hvm} (a QEMU device model started by
 * libxl, "hvm tick N" on COM1 into its serial file): the device-model half of forking
 * ({@link DeviceModelChecks}) runs on it.
 */
public final class RigChecks {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The longest wait for a guest's ticks (a slow emulated guest's pace, with room). */
    static final Duration TICKS_WAIT = Duration.ofSeconds(120);
    private static final Pattern TICK = Pattern.compile("\\(d(\\d+)\\) tiny tick ([0-9a-f]{8})");

    private final List<String> failures = new ArrayList<>();
    private int passed;

    record Run(int code, String out, String err) {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 3 || !List.of("stock", "memshr").contains(args[0])) {
            System.err.println("usage: RigChecks stock|memshr GUEST [HVM]   (-Drig.fuzzTarget=NAME: also fuzz that guest)");
            System.exit(2);
        }
        RigChecks c = new RigChecks();
        if (!Boolean.getBoolean("rig.deviceModelOnly")) { // a developer's shortcut; the tier runs everything
            // as a step: if the guest is already gone, the last check below still says why (xl dmesg)
            c.step("the checks on " + args[1], () -> c.runAll(args[0].equals("memshr"), args[1]));
        }
        if (args.length == 3) {
            c.step("fork with a device model", () -> new DeviceModelChecks(c, args[2]).run());
        }
        String fuzzTarget = System.getProperty("rig.fuzzTarget", "");
        if (!fuzzTarget.isEmpty()) {
            c.step("fuzzing the fuzz target", () -> new FuzzChecks(c, fuzzTarget).run());
        }
        c.noGuestCrashed();
        System.out.println("rig checks (" + args[0] + "): " + c.passed + " passed, " + c.failures.size() + " failed");
        c.failures.forEach(f -> System.out.println("  failed: " + f));
        System.exit(Math.min(c.failures.size(), 100));
    }

    private void runAll(boolean memshr, String guest) throws Exception {
        int g = Integer.parseInt(sh("xl", "domid", guest).strip());
        List<Integer> before = xlDomids();
        String was = xlState(g);
        check("the guest " + guest + " (" + g + ") is running (xl list state " + was + ")", runs(was));
        step("info", this::info);
        step("list", this::list);
        step("list -l", this::listLong);
        step("pause/unpause", () -> pauseUnpause(guest, g));
        step("createdomain/destroy", this::createAndDestroy);
        step("hvm context", () -> whilePaused(guest, g, () -> hvmContext(g)));
        step("guest memory", () -> whilePaused(guest, g, () -> new MemoryChecks(this, guest, g).run(memshr)));
        if (memshr) {
            step("fork", () -> whilePaused(guest, g, () -> forks(guest, g)));
            step("monitor events", () -> whilePaused(guest, g, () -> new MonitorChecks(this, guest, g).run()));
        } else {
            step("fork on stock Xen", () -> forkRefused(g));
        }
        check("no domain the checks made is left (xl list: " + xlDomids() + ", before: " + before + ")",
                xlDomids().equals(before));
        String now = xlState(g);
        check("the guest runs again, as it was (xl list state " + now + ")", runs(now));
    }

    // ---- the checks ----

    /** {@code info} against {@code xl info}: the keys both have. */
    private void info() throws Exception {
        JsonNode ours = json(xenfork("info", "--json"));
        Map<String, String> xl = xlInfo();
        for (String key : List.of("xen_major", "xen_minor", "xen_extra", "xen_caps", "virt_caps", "nr_cpus", "total_memory",
                "cc_compiler", "cc_compile_by", "cc_compile_domain", "cc_compile_date")) {
            // stripped: xl info's "key : value" text cannot show xen_caps' trailing space, which XENVER has
            String a = ours.path(key).asText("").strip();
            boolean mayBeEmpty = key.startsWith("cc_compile_"); // the rig's own Xen build leaves compile_by empty
            check("info " + key + " = xl info's (" + a + ")", a.equals(xl.get(key)) && (mayBeEmpty || !a.isEmpty()));
        }
        check("info release = xl info's xen_version (" + ours.path("release").asText() + ")",
                ours.path("release").asText().equals(xl.get("xen_major") + "." + xl.get("xen_minor") + xl.get("xen_extra")));
    }

    /** {@code list --json} against {@code xl list}: ids, names, memory, vCPUs, the paused flag. */
    private void list() throws Exception {
        JsonNode ours = json(xenfork("list", "--json"));
        Map<Integer, String[]> xl = xlList();
        check("list shows the domains xl list shows " + xl.keySet(), ours.size() == xl.size());
        for (JsonNode d : ours) {
            int id = d.path("domid").asInt();
            String[] row = xl.get(id);
            if (row == null) {
                check("xl list shows domain " + id, false);
                continue;
            }
            check("domain " + id + ": name " + d.path("name").asText() + " = xl's " + row[0], d.path("name").asText().equals(row[0]));
            check("domain " + id + ": memory " + d.path("memory_kb").asLong() / 1024 + " MiB = xl's " + row[2],
                    d.path("memory_kb").asLong() / 1024 == Long.parseLong(row[2]));
            check("domain " + id + ": vCPUs " + d.path("vcpus").asInt() + " = xl's " + row[3],
                    d.path("vcpus").asInt() == Integer.parseInt(row[3]));
            check("domain " + id + ": paused flag as xl's state " + row[4],
                    d.path("state").asText().contains("p") == row[4].contains("p"));
        }
    }

    /**
     * {@code list --json} against {@code xl list -l}'s JSON: the same domids and names,
     * vCPUs where xl gives {@code max_vcpus} (not for Domain-0), memory within 1 MiB of
     * xl's {@code target_memkb} (a running dom0 balloons by a page or so).
     */
    private void listLong() throws Exception {
        JsonNode ours = json(xenfork("list", "--json"));
        JsonNode xl = json(sh("xl", "list", "-l"));
        Map<Integer, JsonNode> byId = new TreeMap<>();
        xl.forEach(d -> byId.put(d.path("domid").asInt(), d));
        check("list --json and xl list -l show the same domains " + byId.keySet(), ours.size() == byId.size());
        for (JsonNode d : ours) {
            int id = d.path("domid").asInt();
            JsonNode x = byId.get(id);
            if (x == null) {
                check("xl list -l shows domain " + id, false);
                continue;
            }
            JsonNode cinfo = x.path("config").path("c_info");
            JsonNode binfo = x.path("config").path("b_info");
            check("domain " + id + ": name = xl list -l's " + cinfo.path("name").asText(),
                    d.path("name").asText().equals(cinfo.path("name").asText()));
            if (binfo.has("max_vcpus")) {
                check("domain " + id + ": vCPUs = xl list -l's max_vcpus " + binfo.path("max_vcpus").asInt(),
                        d.path("vcpus").asInt() == binfo.path("max_vcpus").asInt());
            }
            long target = binfo.path("target_memkb").asLong(-1);
            check("domain " + id + ": memory " + d.path("memory_kb").asLong() + " kB within 1 MiB of xl list -l's target_memkb "
                    + target, target >= 0 && Math.abs(d.path("memory_kb").asLong() - target) <= 1024);
        }
    }

    /** {@code pause}/{@code unpause} by name, seen by {@code xl list}; the guest runs again after. */
    private void pauseUnpause(String guest, int g) throws Exception {
        Run p = run("pause", guest);
        boolean paused = xlState(g).contains("p");
        Run u = run("unpause", guest);
        check("pause " + guest + ": exit 0, xl list shows it paused", p.code == 0 && paused);
        check("unpause " + guest + ": exit 0, xl list shows it running", u.code == 0 && !xlState(g).contains("p"));
    }

    /**
     * Runs {@code body} with the guest paused by xenfork's {@code pause}, checked in
     * {@code xl list} first, and unpauses it after, whatever {@code body} did, so
     * that no later check finds it paused.
     */
    private void whilePaused(String guest, int g, Step body) throws Exception {
        Run p = run("pause", guest);
        if (p.code != 0 || !xlState(g).contains("p")) {
            throw new IOException("pause " + guest + " exited " + p.code + ", xl list state " + xlState(g) + ": " + p.err.strip());
        }
        try {
            body.run();
        } finally {
            Run u = run("unpause", guest);
            if (u.code != 0 || xlState(g).contains("p")) {
                check("unpause " + guest + " after the check: exit " + u.code + ", xl list state " + xlState(g), false);
            }
        }
    }

    /** XEN_DOMCTL_createdomain with this release's layout, seen by xl list, then {@code destroy}. */
    private void createAndDestroy() throws Exception {
        int id;
        String release;
        try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
             Hypervisor xen = Hypervisor.open(privcmd, null, null, false)) {
            Abi abi = xen.abi();
            release = abi.release().toString();
            long emu = abi.constant("XEN_X86_EMU_LAPIC"); // a PVH-like empty domain
            id = xen.createDomain(0, new DomainConfig(0, null,
                    abi.constant("XEN_DOMCTL_CDF_hvm") | abi.constant("XEN_DOMCTL_CDF_hap"), 0, 1, 1023, 32,
                    1024, abi.struct("xen_domctl_createdomain").field("grant_opts").isPresent() ? 1 : 0, 0, 0, emu, 0));
        }
        check("createdomain (Xen " + release + " layout) made domain " + id + ", xl list shows it", xlList().containsKey(id));
        Run d = run("destroy", Integer.toString(id));
        check("destroy " + id + ": exit 0 and gone from xl list", d.code == 0 && waitGone(id));
    }

    /**
     * gethvmcontext against libxenctrl's xc_domain_hvm_getcontext (xctest getctx),
     * sethvmcontext of those bytes, and gethvmcontext_partial of the CPU record.
     * The CPU record's {@code tsc} is read at save time (hvm_save_cpu_ctxt), so it is
     * the one field two saves of a paused guest may differ in; it is compared apart.
     */
    private void hvmContext(int g) throws Exception {
        Path file = Files.createTempFile("rig-ctx", ".bin");
        try (Privcmd privcmd = Privcmd.open(LinuxSeam.get());
             Hypervisor xen = Hypervisor.open(privcmd, null, null, false)) {
            byte[] ours = xen.hvmContext(g);
            sh("xctest", "getctx", Integer.toString(g), file.toString());
            byte[] theirs = Files.readAllBytes(file);
            StructLayout cpu = xen.abi().struct("hvm_hw_cpu");
            int tscOffset = cpu.field("tsc").orElseThrow().offset();
            int cpuCode = saveCode(xen.abi(), "CPU");
            List<int[]> cpuBodies = records(xen.abi(), ours, cpuCode);
            List<Integer> differ = differences(ours, theirs);
            List<Integer> outsideTsc = differ.stream()
                    .filter(i -> cpuBodies.stream().noneMatch(r -> i >= r[0] + tscOffset && i < r[0] + tscOffset + 8)).toList();
            check("gethvmcontext: " + ours.length + " bytes, as libxenctrl's " + theirs.length
                    + "; equal but for the CPU records' tsc (" + differ.size() + " bytes differ there)",
                    ours.length == theirs.length && outsideTsc.isEmpty());
            HvmContextLoader.load(xen, g, HvmContext.parse(theirs, xen.release())); // checked, then sethvmcontext
            check("sethvmcontext of libxenctrl's bytes accepted", true);
            byte[] partial = xen.hvmContextPartial(g, cpuCode, 0);
            int[] rec = cpuBodies.get(0);
            byte[] full = Arrays.copyOfRange(ours, rec[0], rec[0] + rec[1]);
            List<Integer> pd = differences(partial, full).stream()
                    .filter(i -> i < tscOffset || i >= tscOffset + 8).toList();
            check("gethvmcontext_partial(CPU, 0): " + partial.length + " bytes = the CPU record of the whole context but tsc",
                    partial.length == rec[1] && pd.isEmpty());
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** On the stock hypervisor a running guest is paused for the fork, the fork is refused, and the guest runs again. */
    private void forkRefused(int g) throws Exception {
        List<Integer> before = xlDomids();
        Run r = run("fork-vm", Integer.toString(g));
        check("fork-vm exits 1 on a hypervisor without memory sharing (" + r.err.strip() + ")", r.code == 1
                && r.err.contains("ENOSYS") && r.err.contains("memory sharing is not built into this hypervisor"));
        check("the half-made fork was destroyed again", xlDomids().equals(before) && r.err.contains("destroyed the half-made fork"));
        check("the parent, paused for the fork, runs again", !xlState(g).contains("p"));
    }

    /** Forks of the tiny guest: they continue its count, fork_reset rewinds, a fork of a fork works, names, cleanup. */
    private void forks(String guest, int g) throws Exception {
        List<Integer> before = xlDomids();
        try {
            forkChecks(guest, g);
        } finally { // whatever failed above, no fork outlives the checks
            for (int d : xlDomids()) {
                if (!before.contains(d)) {
                    run("destroy", Integer.toString(d));
                }
            }
        }
    }

    private void forkChecks(String guest, int g) throws Exception {
        String last = lastTick(g);
        Run f = run("fork-vm", "-p", "--name", "rigfork", guest);
        int fork = Integer.parseInt(f.out.strip().isEmpty() ? "-1" : f.out.strip());
        check("fork-vm -p --name rigfork: exit 0, prints domid " + fork + " (" + f.err.strip() + ")", f.code == 0 && fork > 0);
        if (fork <= 0) {
            return;
        }
        check("xl list shows the fork as rigfork, paused", "rigfork".equals(xlList().get(fork)[0]) && xlState(fork).contains("p"));
        String first = runUntil(fork, 1).get(0);
        long d = Long.parseLong(first, 16) - Long.parseLong(last, 16);
        check("the fork continues the parent's count (" + last + " -> " + first + ")", d == 1 || d == 2);
        int seen = ticks(fork).size();
        Run reset = run("fork-reset", "rigfork");
        List<String> after = runUntil(fork, seen + 1);
        String again = after.size() > seen ? after.get(seen) : "none";
        check("fork-reset: exit 0, the fork restarts at " + first + " (got " + again + ")", reset.code == 0 && again.equals(first));

        Run many = run("fork-vm", "-p", "--count", "2", "--json", "--block-interrupts", guest);
        JsonNode arr = many.code == 0 ? json(many) : JSON.createArrayNode();
        check("fork-vm --count 2 --json: two forks with domid, name, parent", arr.size() == 2
                && arr.get(0).path("parent").asInt() == g);
        String flast = lastTick(fork);
        Run sub = run("fork-vm", "-p", Integer.toString(fork));
        int grand = sub.code == 0 ? Integer.parseInt(sub.out.strip()) : -1;
        String gfirst = grand > 0 ? runUntil(grand, 1).get(0) : "none";
        long gd = grand > 0 ? Long.parseLong(gfirst, 16) - Long.parseLong(flast, 16) : -1;
        check("a fork of the fork continues its count (" + flast + " -> " + gfirst + ")", gd == 1 || gd == 2);

        List<Integer> made = new ArrayList<>(List.of(fork));
        arr.forEach(n -> made.add(n.path("domid").asInt()));
        if (grand > 0) {
            made.add(0, grand);
        }
        for (int m : made) {
            Run x = run("destroy", Integer.toString(m));
            check("destroy " + m + ": exit 0", x.code == 0);
        }
        for (int m : made) {
            check("fork " + m + " gone from xl list and xenstore", waitGone(m)
                    && sh("sh", "-c", "xenstore-exists /local/domain/" + m + " || xenstore-exists /libxl/" + m + " || echo gone")
                    .contains("gone"));
        }
    }

    // ---- xenfork in-process, and the judges ----

    Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new Run(code, out.toString(), err.toString());
    }

    private String xenfork(String... args) {
        Run r = run(args);
        if (r.code != 0) {
            throw new IllegalStateException("xenfork " + String.join(" ", args) + " exited " + r.code + ": " + r.err);
        }
        return r.out;
    }

    private static JsonNode json(String s) throws IOException {
        return JSON.readTree(s);
    }

    private static JsonNode json(Run r) throws IOException {
        return JSON.readTree(r.out);
    }

    /**
     * Runs a command (no shell unless asked for) with its output in a file, so
     * the 60 s bound holds whatever the command does; its stdout. A non-zero exit
     * is an IOException with the command's stderr, except for {@code sh -c} scripts,
     * which print their answer ({@code xenstore-exists} answers by exit status).
     */
    static String sh(String... cmd) throws IOException, InterruptedException {
        Path out = Files.createTempFile("rig-out", ".txt");
        Path err = Files.createTempFile("rig-err", ".txt");
        try {
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", cmd) + " did not finish in 60 s");
            }
            int rc = p.exitValue();
            if (rc != 0 && !cmd[0].equals("sh")) {
                throw new IOException(String.join(" ", cmd) + " exited " + rc + ": " + Files.readString(err).strip());
            }
            return Files.readString(out);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    private static Map<String, String> xlInfo() throws Exception {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : sh("xl", "info").split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                m.put(line.substring(0, colon).strip(), line.substring(colon + 1).strip());
            }
        }
        return m;
    }

    /** xl list rows by domid: name, id, Mem, VCPUs, State. */
    static Map<Integer, String[]> xlList() throws Exception {
        Map<Integer, String[]> m = new TreeMap<>();
        for (String line : sh("xl", "list").split("\n")) {
            String[] f = line.strip().split("\\s+");
            if (f.length >= 5 && f[1].matches("\\d+")) {
                m.put(Integer.parseInt(f[1]), f);
            }
        }
        return m;
    }

    /** The domain's memory as {@code xl list} shows it (its Mem column, MiB), in bytes. */
    static long maxMemoryBytes(int domid) throws Exception {
        String[] row = xlList().get(domid);
        if (row == null) {
            throw new IOException("xl list does not show domain " + domid);
        }
        return Long.parseLong(row[2]) << 20;
    }

    static List<Integer> xlDomids() throws Exception {
        return new ArrayList<>(xlList().keySet());
    }

    static String xlState(int domid) throws Exception {
        String[] row = xlList().get(domid);
        return row == null ? "(gone)" : row[4];
    }

    /** An {@code xl list} state of a domain whose vCPUs run: not paused, shut down, crashed or dying. */
    static boolean runs(String state) {
        return state.length() == 6 && state.chars().noneMatch(ch -> "pscd".indexOf(ch) >= 0);
    }

    /**
     * Xen's own word that a guest died during the checks ({@code xl dmesg}): a triple fault or a
     * crashed domain. A guest killed under the checks makes later checks fail for a reason that
     * is not theirs; this names it (README.md, "The emulator").
     */
    void noGuestCrashed() throws Exception {
        List<String> died = sh("xl", "dmesg").lines()
                .filter(l -> l.contains("Triple fault") || l.contains("crashed on cpu") || l.contains("domain_crash"))
                .toList();
        check("no guest died during the checks (xl dmesg" + (died.isEmpty() ? "" : ": " + String.join(" | ", died)) + ")",
                died.isEmpty());
    }

    static boolean waitGone(int domid) throws Exception {
        for (int i = 0; i < 40; i++) {
            if (!xlList().containsKey(domid)) {
                return true;
            }
            Thread.sleep(250);
        }
        return false;
    }

    /** The tiny guest's counter values printed by {@code domid}, oldest first (Xen's console ring). */
    static List<String> ticks(int domid) throws Exception {
        List<String> out = new ArrayList<>();
        Matcher m = TICK.matcher(sh("xl", "dmesg"));
        while (m.find()) {
            if (Integer.parseInt(m.group(1)) == domid) {
                out.add(m.group(2));
            }
        }
        return out;
    }

    static String lastTick(int domid) throws Exception {
        List<String> t = ticks(domid);
        return t.isEmpty() ? "00000000" : t.get(t.size() - 1);
    }

    /**
     * Lets a paused domain run, with xenfork's unpause and pause, until it has printed {@code count} ticks in all
     * (at most {@link #TICKS_WAIT}), and returns them. A guest's pace is the emulator's, from about a tick a
     * second to far slower on a busy host, so the checks wait for ticks, not for a fixed time.
     */
    List<String> runUntil(int domid, int count) throws Exception {
        Run u = run("unpause", Integer.toString(domid));
        if (u.code != 0) {
            throw new IOException("unpause " + domid + " exited " + u.code + ": " + u.err.strip());
        }
        long start = System.nanoTime();
        while (ticks(domid).size() < count && System.nanoTime() - start < TICKS_WAIT.toNanos()) {
            Thread.sleep(250);
        }
        Run p = run("pause", Integer.toString(domid));
        if (p.code != 0) {
            throw new IOException("pause " + domid + " exited " + p.code + ": " + p.err.strip());
        }
        List<String> t = ticks(domid);
        return t.isEmpty() ? List.of("none") : t;
    }

    /** Xen's code for the HVM save record {@code name} (DECLARE_HVM_SAVE_TYPE), e.g. CPU = 2. */
    private static int saveCode(Abi abi, String name) {
        return abi.hvmSaveTypes().stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow().code();
    }

    /** Offsets and lengths of the bodies of every record of {@code type} in an HVM save stream (hvm_save_descriptor). */
    private static List<int[]> records(Abi abi, byte[] ctx, int type) {
        StructLayout desc = abi.struct("hvm_save_descriptor");
        Leaf typecode = desc.leaf("typecode");
        Leaf length = desc.leaf("length");
        List<int[]> out = new ArrayList<>();
        int off = 0;
        while (off + desc.size() <= ctx.length) {
            int t = (int) typecode.read(ctx, off);
            long len = length.read(ctx, off);
            if (t == type) {
                out.add(new int[] {off + desc.size(), (int) len});
            }
            if (t == 0 || len > ctx.length) { // HVM_SAVE_CODE(END), or a length no stream of this size can hold
                break;
            }
            off += desc.size() + (int) len;
        }
        return out;
    }

    private static List<Integer> differences(byte[] a, byte[] b) {
        List<Integer> d = new ArrayList<>();
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            if (a[i] != b[i]) {
                d.add(i);
            }
        }
        return d;
    }

    @FunctionalInterface
    interface Step {
        void run() throws Exception;
    }

    /** A step that throws counts as one failure and the next step still runs. */
    void step(String name, Step body) {
        try {
            body.run();
        } catch (Exception e) {
            check(name + " ran to the end (" + e + ")", false);
        }
    }

    void check(String what, boolean ok) {
        System.out.println((ok ? "ok: " : "FAIL: ") + what);
        System.out.flush();
        if (ok) {
            passed++;
        } else {
            failures.add(what);
        }
    }
}
