package org.xenfork.rig;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.xenfork.fork.devicemodel.DeviceModelArgs;
import org.xenfork.fork.devicemodel.DeviceModelConfig;
import org.xenfork.fork.devicemodel.XlConfig;

/**
 * The device-model half of forking on real Xen, judged as the rig's
 * {@code oracle/dm-fork.sh} judges the same flow done by hand with libxenctrl and
 * xl: the parent's QEMU (started by libxl) saves its device state, a fork gets a
 * QEMU of its own that loads it, and the fork's COM1 output, served by that new
 * QEMU, continues the parent's counter. {@code xl pause}, {@code xl unpause} and
 * {@code xl destroy} must work on such a fork, since its QEMU sits where libxl's
 * would. Also: libxl's own command line for the parent is the oracle for
 * {@link DeviceModelArgs}, and a QEMU that cannot start leaves nothing behind.
 */
final class DeviceModelChecks {
    private static final Pattern TICK = Pattern.compile("tick ([0-9a-f]{8})");
    private static final Path WORK = Path.of("/tmp/rig-dm");
    /** Where a fork's config may put its serial file: libxl's log folder (DeviceModelConfig.Limits). */
    private static final Path SERIALS = Path.of("/var/log/xen");
    /** The longest wait for a fork's first two ticks on its COM1 (a slow emulated real-mode guest's pace, with room). */
    private static final Duration TICKS_WAIT = Duration.ofSeconds(180);

    private final RigChecks c;
    private final String hvm;
    private final List<Integer> made = new ArrayList<>();

    DeviceModelChecks(RigChecks checks, String hvm) {
        this.c = checks;
        this.hvm = hvm;
    }

    void run() throws Exception {
        Files.createDirectories(WORK);
        int p = Integer.parseInt(RigChecks.sh("xl", "domid", hvm).strip());
        Path cfgFile = Path.of("/share/guests/" + hvm + ".cfg");
        String cfgText = Files.readString(cfgFile);
        List<Integer> before = RigChecks.xlDomids();
        try {
            String was = RigChecks.xlState(p);
            c.check(hvm + " is running before it is forked (xl list state " + was + ")", RigChecks.runs(was));
            libxlIsTheOracle(p, cfgText, cfgFile);
            RigChecks.Run pause = c.run("pause", hvm);
            c.check("pause " + hvm + ": exit 0, xl list shows it paused (its QEMU keeps running; Xen stops the vCPUs)",
                    pause.code() == 0 && RigChecks.xlState(p).contains("p"));
            Thread.sleep(500); // the last partial line reaches the serial file
            Path state = WORK.resolve("parent.state");
            RigChecks.Run save = c.run("save-devices-state", "--domid", hvm, state.toString());
            byte[] head = Files.exists(state) ? Arrays.copyOf(Files.readAllBytes(state), 8) : new byte[8];
            c.check("save-devices-state --domid " + hvm + ": exit 0, a QEVM v3 file of " + (Files.exists(state)
                    ? Files.size(state) : 0) + " bytes, mode 0600 (" + save.err().strip() + ")", save.code() == 0
                    && Arrays.equals(head, new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3})
                    && PosixFilePermissions.toString(Files.getPosixFilePermissions(state)).equals("rw-------"));
            Parent parent = Parent.read(serialOf(cfgText));
            c.check("the parent's COM1 shows its counter (last " + parent.last + ")", parent.last != null);
            if (save.code() != 0 || parent.last == null) {
                return;
            }
            forkWithDeviceModelNow(state, cfgText, parent);
            forkThenDeviceModelLater(state, cfgText, parent);
            qemuThatCannotStart(state, cfgText);
        } finally {
            for (int d : made) {
                if (RigChecks.xlList().containsKey(d)) {
                    c.run("destroy", Integer.toString(d));
                }
            }
            c.run("unpause", hvm); // as the guest was
        }
        String now = RigChecks.xlState(p);
        c.check(hvm + " runs again, as it was (xl list state " + now + ")", RigChecks.runs(now));
        c.check("no fork is left (xl list: " + RigChecks.xlDomids() + ", before: " + before + ")",
                RigChecks.xlDomids().equals(before));
    }

    /** Our QEMU command line for the parent's config equals the one libxl built for the parent, but -incoming. */
    private void libxlIsTheOracle(int p, String cfgText, Path cfgFile) throws Exception {
        String pid = RigChecks.sh("xenstore-read", "/local/domain/" + p + "/image/device-model-pid").strip();
        // the parent's serial file is in the rig's shared folder, where a fork's config may not write: both
        // command lines move it to libxl's log folder
        String shared = serialOf(cfgText).getParent().toString();
        List<String> libxl = cmdline(pid).stream().map(a -> a.replace("file:" + shared + "/", "file:" + SERIALS + "/"))
                .toList();
        List<String> ours = new ArrayList<>(DeviceModelArgs.build(DeviceModelConfig.of(XlConfig.parse(
                cfgText.replace("file:" + shared + "/", "file:" + SERIALS + "/"), cfgFile.toString())), p,
                Path.of("/var/run/xen")));
        int i = ours.indexOf("-incoming");
        ours.subList(i, i + 2).clear();
        c.check("our QEMU arguments for " + cfgFile + " are libxl's for domain " + p + " (" + libxl.size() + " arguments)",
                ours.equals(libxl));
        if (!ours.equals(libxl)) {
            System.out.println("  ours:  " + ours + "\n  libxl: " + libxl);
        }
    }

    /** fork-vm --launch-dm yes: the fork runs with its own QEMU; xl pause, unpause and destroy work on it. */
    private void forkWithDeviceModelNow(Path state, String cfgText, Parent parent) throws Exception {
        Path cfg = forkConfig(cfgText, "rigdm1");
        RigChecks.Run r = c.run("fork-vm", "--launch-dm", "yes", "-C", cfg.toString(), "-Q", state.toString(), hvm);
        int f = domid(r);
        c.check("fork-vm --launch-dm yes: exit 0, fork " + f + " (" + r.err().strip() + ")", r.code() == 0 && f > 0);
        if (f <= 0) {
            return;
        }
        String dmPid = runsWithItsQemu(f, "rigdm1", cfgText, parent);
        RigChecks.sh("xl", "pause", Integer.toString(f));
        boolean paused = RigChecks.xlState(f).contains("p");
        RigChecks.sh("xl", "unpause", Integer.toString(f)); // libxl sends QMP cont to our QEMU, then unpauses
        c.check("xl pause and xl unpause work on the fork (its QEMU is at libxl's QMP path)",
                paused && !RigChecks.xlState(f).contains("p"));
        RigChecks.sh("xl", "destroy", Integer.toString(f));
        c.check("xl destroy removes the fork and stops its QEMU (pid " + dmPid + ")",
                RigChecks.waitGone(f) && waitExited(dmPid));
        cleanXenstore(f);
    }

    /** fork-vm -p, then fork-launch-dm for it; xenfork destroy stops its QEMU and removes every key. */
    private void forkThenDeviceModelLater(Path state, String cfgText, Parent parent) throws Exception {
        RigChecks.Run r = c.run("fork-vm", "-p", "--name", "rigdm2", hvm);
        int f = domid(r);
        c.check("fork-vm -p --name rigdm2 (no device model): fork " + f, r.code() == 0 && f > 0);
        if (f <= 0) {
            return;
        }
        Path cfg = forkConfig(cfgText, "rigdm2");
        RigChecks.Run l = c.run("fork-launch-dm", "-C", cfg.toString(), "-Q", state.toString(), Integer.toString(f));
        c.check("fork-launch-dm for fork " + f + ": exit 0, prints its domid (" + l.err().strip() + ")",
                l.code() == 0 && l.out().strip().equals(Integer.toString(f)));
        String dmPid = runsWithItsQemu(f, "rigdm2", cfgText, parent);
        RigChecks.Run d = c.run("destroy", Integer.toString(f));
        c.check("xenfork destroy " + f + ": exit 0, says it stopped QEMU pid " + dmPid + " (" + d.err().strip() + ")",
                d.code() == 0 && d.err().contains("stopped QEMU pid " + dmPid));
        String left = RigChecks.sh("sh", "-c", "for k in /local/domain/" + f + " /libxl/" + f + " /local/domain/0/device-model/"
                + f + "; do xenstore-exists $k && echo $k; done; ls /var/run/xen/qmp-libxl-" + f + " 2>/dev/null; true");
        c.check("the fork, its QEMU, its xenstore keys and QMP socket are gone (left: '" + left.strip() + "')",
                RigChecks.waitGone(f) && waitExited(dmPid) && left.isBlank());
    }

    /** A QEMU that dies at start: exit 1 with its own words, no QEMU and no key left, the fork kept as it was. */
    private void qemuThatCannotStart(Path state, String cfgText) throws Exception {
        RigChecks.Run r = c.run("fork-vm", "-p", hvm);
        int f = domid(r);
        if (f <= 0) {
            c.check("fork-vm -p for the failure check: " + r.err().strip(), false);
            return;
        }
        Path cfg = WORK.resolve("broken.cfg");
        Files.writeString(cfg, Files.readString(forkConfig(cfgText, "rigdm3"))
                + "device_model_args = [ \"-no-such-option\" ]\n");
        RigChecks.Run l = c.run("fork-launch-dm", "--allow-dm-args", "-C", cfg.toString(), "-Q", state.toString(),
                Integer.toString(f));
        List<Long> qemus = serving(f);
        String keys = RigChecks.sh("sh", "-c", "xenstore-exists /local/domain/0/device-model/" + f + " && echo dm; "
                + "xenstore-exists /local/domain/" + f + "/image/device-model-pid && echo pid; true");
        c.check("fork-launch-dm with a QEMU that cannot start: exit 1 quoting QEMU (" + firstLine(l.err()) + ")",
                l.code() == 1 && l.err().contains("no-such-option") && l.err().contains("QEMU exited"));
        c.check("no QEMU (" + qemus + ") and no device-model key ('" + keys.strip() + "') is left; the fork is kept",
                qemus.isEmpty() && keys.isBlank() && RigChecks.xlList().containsKey(f));
    }

    /** The fork runs, its QEMU says running in xenstore, and its COM1 continues the parent's count exactly. */
    private String runsWithItsQemu(int f, String name, String cfgText, Parent parent) throws Exception {
        String dmState = RigChecks.sh("sh", "-c", "xenstore-read /local/domain/0/device-model/" + f + "/state").strip();
        String dmPid = RigChecks.sh("sh", "-c", "xenstore-read /local/domain/" + f + "/image/device-model-pid").strip();
        List<String> args = dmPid.matches("\\d+") ? cmdline(dmPid) : List.of();
        c.check("fork " + f + ": xl list shows " + name + " running; device-model state " + dmState + "; QEMU pid " + dmPid
                + " serves -xen-domid " + f, name.equals(RigChecks.xlList().getOrDefault(f, new String[] {""})[0])
                && !RigChecks.xlState(f).contains("p") && dmState.equals("running")
                && args.contains("-xen-domid") && args.get(args.indexOf("-xen-domid") + 1).equals(Integer.toString(f)));
        // How fast the fork prints is the emulator's business: the real-mode guest has printed from about one
        // tick a second to one a minute here, so the check waits, bounded, for the tick that continues the
        // parent's count and the one after it, rather than reading the file after a fixed time.
        Path serial = SERIALS.resolve(name + "-serial.log");
        long start = System.nanoTime();
        List<String> t = List.of();
        while (System.nanoTime() - start < TICKS_WAIT.toNanos()) {
            String out = Files.exists(serial) ? Files.readString(serial, StandardCharsets.ISO_8859_1) : "";
            t = ticks(parent.unfinished + out);
            if (t.size() >= 2) {
                break;
            }
            Thread.sleep(500);
        }
        long waited = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        String first = t.isEmpty() ? "none" : t.get(0);
        long expected = Long.parseLong(parent.last, 16) + 1;
        c.check("fork " + f + "'s COM1, served by its own QEMU, continues the parent's count (" + parent.last + " -> "
                + first + ") and goes on (" + t.size() + " ticks in " + waited + " s, at most " + TICKS_WAIT.toSeconds()
                + " s waited)", t.size() >= 2 && Long.parseLong(first, 16) == expected
                && Long.parseLong(t.get(1), 16) == expected + 1);
        return dmPid;
    }

    /** The parent's config with the fork's own name, serial file and disk copy, as the posted xl fork-vm asks. */
    private Path forkConfig(String cfgText, String name) throws IOException {
        Matcher disk = Pattern.compile("target=([^\",]+)").matcher(cfgText);
        if (!disk.find()) {
            throw new IOException("no disk target in the guest's config");
        }
        Path copy = Path.of(disk.group(1)).resolveSibling(name + ".img");
        Files.copy(Path.of(disk.group(1)), copy, StandardCopyOption.REPLACE_EXISTING);
        Path serial = SERIALS.resolve(name + "-serial.log");
        Files.deleteIfExists(serial);
        String text = cfgText.replaceFirst("(?m)^name = .*$", "name = \"" + name + "\"")
                .replaceFirst("(?m)^serial = .*$", "serial = \"file:" + serial + "\"")
                .replace("target=" + disk.group(1), "target=" + copy);
        Path cfg = WORK.resolve(name + ".cfg");
        Files.writeString(cfg, text);
        return cfg;
    }

    /** The parent's counter at the pause: its last complete line, and the line it was in the middle of. */
    private record Parent(String last, String unfinished) {
        static Parent read(Path serial) throws IOException {
            String s = Files.readString(serial, StandardCharsets.ISO_8859_1);
            int nl = s.lastIndexOf('\n');
            List<String> t = ticks(s.substring(0, nl + 1));
            return new Parent(t.isEmpty() ? null : t.get(t.size() - 1), s.substring(nl + 1));
        }
    }

    private static Path serialOf(String cfgText) throws IOException {
        Matcher m = Pattern.compile("(?m)^serial = \"file:([^\"]+)\"").matcher(cfgText);
        if (!m.find()) {
            throw new IOException("no serial file in the guest's config");
        }
        return Path.of(m.group(1));
    }

    private static List<String> ticks(String s) {
        List<String> out = new ArrayList<>();
        Matcher m = TICK.matcher(s);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    private int domid(RigChecks.Run r) {
        String s = r.out().strip();
        int d = r.code() == 0 && s.matches("\\d+") ? Integer.parseInt(s) : -1;
        if (d > 0) {
            made.add(d);
        }
        return d;
    }

    private static List<String> cmdline(String pid) throws IOException {
        String raw = Files.readString(Path.of("/proc", pid, "cmdline"), StandardCharsets.UTF_8);
        return List.of(raw.split("\0"));
    }

    /** The processes whose arguments hold {@code -xen-domid F}: device models of domain F. */
    private static List<Long> serving(int f) {
        String arg = "\0-xen-domid\0" + f + "\0";
        return ProcessHandle.allProcesses().map(ProcessHandle::pid).filter(pid -> {
            try {
                return Files.readString(Path.of("/proc", pid.toString(), "cmdline"), StandardCharsets.UTF_8).contains(arg);
            } catch (IOException e) {
                return false; // gone meanwhile
            }
        }).toList();
    }

    private static boolean waitExited(String pid) throws InterruptedException {
        for (int i = 0; i < 50; i++) {
            Path status = Path.of("/proc", pid, "status");
            try {
                if (!Files.exists(status) || Files.readString(status).contains("zombie")) {
                    return true;
                }
            } catch (IOException e) {
                return true; // gone between the two looks
            }
            Thread.sleep(100);
        }
        return false;
    }

    /** libxl's xl destroy leaves the device-model folder of a domain it did not create at times (as the oracle saw). */
    private static void cleanXenstore(int f) throws Exception {
        String left = RigChecks.sh("sh", "-c", "xenstore-exists /local/domain/0/device-model/" + f + " && echo left; true");
        if (!left.isBlank()) {
            System.out.println("note: xl destroy left /local/domain/0/device-model/" + f + " (as the oracle saw); removing it");
            RigChecks.sh("xenstore-rm", "/local/domain/0/device-model/" + f);
        }
    }

    private static String firstLine(String s) {
        String t = s.strip();
        int nl = t.indexOf('\n');
        return nl < 0 ? t : t.substring(0, nl);
    }
}
