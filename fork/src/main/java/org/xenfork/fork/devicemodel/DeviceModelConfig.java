package org.xenfork.fork.devicemodel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.xenfork.abi.Values;
import org.xenfork.fork.DomainNames;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.devicemodel.XlConfig.Setting;

/**
 * What of an xl config decides a fork's device model, checked: the subset xenfork
 * honours, as libxl 4.17 turns it into QEMU arguments ({@link DeviceModelArgs}).
 * Every other key is either one the fork already has from its parent (memory
 * layout, CPUID, timers: {@link #DOMAIN_BUILD_KEYS}, read and ignored) or one that
 * would change the device model in a way this version cannot reproduce, which is
 * refused with its line. A device model that differs from the parent's cannot
 * load the parent's device state, so refusing beats guessing.
 *
 * <p>xenfork runs the device model as root, so a config is also held to
 * {@link Limits}: what it may make QEMU open on the host (a serial {@code pty}, or a
 * file in libxl's log folder), which binary it may name, and which extra QEMU
 * options it may add (docs/DEVICE-MODEL.md, "What a config may ask of the host").
 *
 * @param name       {@code name}: QEMU's {@code -name}, and the fork's name if it has none
 * @param memoryMib  {@code maxmem}, else {@code memory}: QEMU's {@code -m} (no video RAM: {@code vga="none"})
 * @param vcpus      {@code vcpus}: vCPUs online at start
 * @param maxVcpus   {@code maxvcpus}, else {@code vcpus}
 * @param disks      {@code disk}: emulated IDE disks
 * @param serials    {@code serial}: QEMU {@code -serial} targets
 * @param boot       {@code boot}: boot order, e.g. {@code c}
 * @param nographic  {@code nographic}: QEMU's {@code -nographic}
 * @param platformPci {@code xen_platform_pci} (default 1): machine {@code xenfv}, else {@code pc,accel=xen}
 * @param binary     {@code device_model_override}, else libxl's default QEMU
 * @param extraArgs  {@code device_model_args} then {@code device_model_args_hvm}, appended as libxl does
 */
public record DeviceModelConfig(String name, int memoryMib, int vcpus, int maxVcpus, List<Disk> disks,
        List<String> serials, String boot, boolean nographic, boolean platformPci, Path binary,
        List<String> extraArgs) {

    /**
     * What a config may ask of the host beyond the guest's devices.
     *
     * @param serialDir    the folder {@code serial = "file:PATH"} may write into (libxl's log folder)
     * @param anyExtraArgs pass {@code device_model_args} as they are, as xl does ({@code --allow-dm-args}: root
     *                     vouches for them); else only {@link #ALLOWED_ARGS}
     */
    public record Limits(Path serialDir, boolean anyExtraArgs) {
        /** libxl's log folder, and extra arguments checked. */
        public static final Limits DEFAULT = new Limits(Path.of("/var/log/xen"), false);
    }

    /** The QEMU options a config may add without {@code --allow-dm-args}: they open nothing on the host. */
    public static final String ALLOWED_ARGS = "-S (start held) and -rtc base=...,clock=...,driftfix=...";

    /** Debian's and libxl 4.17's default device model for {@code device_model_version="qemu-xen"}. */
    public static final Path DEFAULT_BINARY = Path.of("/usr/libexec/xen-qemu-system-i386");

    /** Keys that shape the domain, which a fork inherits from its parent; the device model does not read them. */
    public static final Set<String> DOMAIN_BUILD_KEYS = Set.of("uuid", "hap", "on_poweroff", "on_reboot", "on_crash",
            "on_watchdog", "on_soft_reset", "tsc_mode", "cpuid", "acpi", "acpi_s3", "acpi_s4", "apic", "pae", "hpet",
            "viridian", "timer_mode", "nestedhvm", "shadow_memory", "cpus", "cpus_soft", "cpu_weight", "cpu_cap",
            "pool", "bios", "firmware", "localtime", "rtc_timeoffset", "videoram");

    /** Keys read for the device model (some only with the one value this version supports). */
    private static final List<String> HONOURED_ORDER = List.of("name", "type", "builder", "memory", "maxmem", "vcpus",
            "maxvcpus", "disk", "serial", "boot", "nographic", "xen_platform_pci", "device_model_version",
            "device_model_override", "device_model_args", "device_model_args_hvm", "vga", "vnc", "sdl", "vif");
    private static final Set<String> HONOURED = Set.copyOf(HONOURED_ORDER);

    /** One {@code disk} entry: a raw or qcow2 image as an emulated IDE disk. */
    public record Disk(Path target, String format, String vdev) {
        /** IDE index from the vdev: hda 0, hdb 1, hdc 2, hdd 3. */
        public int ideIndex() {
            return vdev.charAt(2) - 'a';
        }
    }

    private static final Pattern IDE_VDEV = Pattern.compile("hd[a-d]");
    private static final Pattern BOOT = Pattern.compile("[acdn]{1,4}");
    private static final Pattern DIGITS = Pattern.compile("[0-9]{1,9}");
    private static final String RTC_SETTING = "(base|clock|driftfix)=[A-Za-z0-9:.+-]+";
    private static final Pattern RTC = Pattern.compile(RTC_SETTING + "(," + RTC_SETTING + ")*");
    private static final Set<String> DISK_KEYS = Set.of("target", "format", "vdev", "access", "devtype", "backendtype");
    private static final Set<String> FORMATS = Set.of("raw", "qcow2");
    private static final int MAX_MIB = 16 << 20;
    private static final int MAX_VCPUS = 4096;

    /** {@link #of(XlConfig, Limits)} with {@link Limits#DEFAULT}. */
    public static DeviceModelConfig of(XlConfig cfg) {
        return of(cfg, Limits.DEFAULT);
    }

    /**
     * The device-model subset of {@code cfg}; a {@link ForkRequestException} names the first line it cannot
     * honour, or that asks the host for more than {@code limits} allow.
     */
    public static DeviceModelConfig of(XlConfig cfg, Limits limits) {
        for (Setting s : cfg.settings().values()) {
            if (!HONOURED.contains(s.key()) && !DOMAIN_BUILD_KEYS.contains(s.key())) {
                throw cfg.error(s.line(), s.key() + ": xenfork cannot honour this key for a fork's device model; "
                        + "remove it (it reads: " + String.join(", ", HONOURED_ORDER) + ")");
            }
        }
        String type = atom(cfg, "type").or(() -> atom(cfg, "builder")).orElse("");
        if (!type.equals("hvm")) {
            String where = cfg.get("type").or(() -> cfg.get("builder")).map(s -> ":" + s.line()).orElse("");
            throw new ForkRequestException(cfg.source() + where + ": type = " + Values.quoted(type)
                    + ": a device model is for HVM guests; set type = \"hvm\"");
        }
        atom(cfg, "device_model_version").filter(v -> !v.equals("qemu-xen")).ifPresent(v -> {
            throw cfg.error(line(cfg, "device_model_version"), "device_model_version = " + Values.quoted(v)
                    + ": only qemu-xen (upstream QEMU) can load a saved device state with -incoming");
        });
        String name = atom(cfg, "name").orElseThrow(() -> new ForkRequestException(cfg.source()
                + ": name is missing; the fork's device model needs one"));
        if (!DomainNames.VALID.matcher(name).matches()) {
            throw cfg.error(line(cfg, "name"), "name " + Values.quoted(name) + ": use a letter, then letters, digits, "
                    + ". _ - (at most 64)");
        }
        requireValue(cfg, "vga", "none", "a fork's device model has no display in this version");
        requireValue(cfg, "vnc", "0", "a fork's device model has no display in this version");
        requireValue(cfg, "sdl", "0", "a fork's device model has no display in this version");
        cfg.get("vif").filter(s -> !s.list().isEmpty() || !s.isList()).ifPresent(s -> {
            throw cfg.error(s.line(), "vif: network devices are not launched for forks in this version; set vif = [] "
                    + "(the parent's NIC state cannot be restored without them: fork a guest without emulated NICs)");
        });
        int memory = number(cfg, "maxmem").orElseGet(() -> number(cfg, "memory").orElseThrow(
                () -> new ForkRequestException(cfg.source() + ": memory is missing (MiB, as the parent's)")));
        int vcpus = number(cfg, "vcpus").orElse(1);
        int maxVcpus = number(cfg, "maxvcpus").orElse(vcpus);
        check(cfg, cfg.get("maxmem").isPresent() ? "maxmem" : "memory", memory, 1, MAX_MIB);
        check(cfg, "vcpus", vcpus, 1, MAX_VCPUS);
        check(cfg, "maxvcpus", maxVcpus, vcpus, MAX_VCPUS);
        String boot = atom(cfg, "boot").orElse("cd");
        if (!BOOT.matcher(boot).matches()) {
            throw cfg.error(line(cfg, "boot"), "boot = " + Values.quoted(boot)
                    + ": use drive letters a, c, d, n (e.g. \"c\")");
        }
        List<Disk> disks = disks(cfg);
        List<String> serials = strings(cfg, "serial");
        for (int i = 0; i < serials.size(); i++) {
            checkSerial(cfg, cfg.get("serial").orElseThrow().lineOf(i), serials.get(i), limits.serialDir());
        }
        boolean platformPci = number(cfg, "xen_platform_pci").orElse(1) != 0;
        boolean nographic = number(cfg, "nographic").orElse(0) != 0;
        Path binary = atom(cfg, "device_model_override").map(v -> override(cfg, line(cfg, "device_model_override"), v))
                .orElse(DEFAULT_BINARY);
        List<String> extra = new ArrayList<>(extraArgs(cfg, "device_model_args", limits));
        extra.addAll(extraArgs(cfg, "device_model_args_hvm", limits));
        return new DeviceModelConfig(name, memory, vcpus, maxVcpus, List.copyOf(disks), serials, boot, nographic,
                platformPci, binary, List.copyOf(extra));
    }

    /**
     * A serial port's QEMU backend: {@code pty}, or {@code file:PATH} for a file in {@code dir} that is
     * not a symbolic link, in a folder only root (or you) can change. Every other backend opens
     * something else on the host: the terminal and standard input ({@code stdio}, {@code mon:}, which
     * carries the device state here), sockets ({@code tcp:}, {@code unix:}, {@code udp:}), devices
     * ({@code /dev/…}), pipes, or a file elsewhere that root would create or truncate.
     */
    private static void checkSerial(XlConfig cfg, int line, String serial, Path dir) {
        if (serial.equals("pty")) {
            return;
        }
        String rule = "a fork's serial port may be pty, or file:PATH with PATH a file in " + dir
                + " (docs/DEVICE-MODEL.md)";
        if (!serial.startsWith("file:")) {
            boolean stdin = serial.equals("stdio") || serial.regionMatches(true, 0, "mon:", 0, 4);
            throw cfg.error(line, "serial = " + Values.quoted(serial) + ": " + rule
                    + (stdin ? "; QEMU's standard input carries the device state" : ""));
        }
        Path file = path(serial.substring(5));
        Path folder = dir.normalize();
        if (file == null || !file.isAbsolute() || !file.toString().equals(serial.substring(5))
                || !file.normalize().equals(file) || serial.contains(",") || !file.startsWith(folder)
                || file.equals(folder)) {
            throw cfg.error(line, "serial = " + Values.quoted(serial) + ": " + rule
                    + " (an absolute path without . or .. parts or commas)");
        }
        try {
            if (!Files.isDirectory(file.getParent())) {
                throw cfg.error(line, "serial = " + Values.quoted(serial) + ": folder " + file.getParent()
                        + " does not exist; QEMU creates the file, not its folder");
            }
            if (!file.getParent().toRealPath().startsWith(folder.toRealPath())) {
                throw cfg.error(line, "serial = " + Values.quoted(serial) + ": folder " + file.getParent()
                        + " leads out of " + dir + " through a symbolic link");
            }
            if (Files.exists(file, LinkOption.NOFOLLOW_LINKS) && !Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                throw cfg.error(line, "serial = " + Values.quoted(serial) + ": " + file
                        + " exists and is not a regular file (a symbolic link, device or folder); QEMU would write "
                        + "through it");
            }
            TrustedPaths.problem(file.getParent()).ifPresent(why -> {
                throw cfg.error(line, "serial = " + Values.quoted(serial) + ": others could swap the file for a link "
                        + "before QEMU opens it: " + why);
            });
        } catch (IOException e) {
            throw cfg.error(line, "serial = " + Values.quoted(serial) + ": cannot check its folder: " + e);
        }
    }

    /**
     * {@code device_model_override}: xl runs whatever file it names once {@code access(X_OK)} passes
     * (libxl's {@code libxl__spawn_local_dm}). xenfork, which runs it as root, asks for more: an existing
     * executable regular file, whose real name says it is a QEMU (only QEMU can load the device state;
     * this keeps a shell or an interpreter out), that only root (or you) can change. Returns the file's real
     * path, links resolved: the one checked is the one run.
     */
    private static Path override(XlConfig cfg, int line, String value) {
        String at = "device_model_override = " + Values.quoted(value) + ": ";
        Path p = path(value);
        if (p == null || !p.isAbsolute()) {
            throw cfg.error(line, at + "give the absolute path of Xen's QEMU (e.g. " + DEFAULT_BINARY + ")");
        }
        if (!Files.isRegularFile(p) || !Files.isExecutable(p)) {
            throw cfg.error(line, at + (Files.exists(p) ? "not an executable regular file" : "no such file")
                    + "; give the absolute path of Xen's QEMU (e.g. " + DEFAULT_BINARY + ")");
        }
        try {
            Path real = p.toRealPath();
            if (!real.getFileName().toString().contains("qemu")) {
                throw cfg.error(line, at + real + " is not named as a QEMU: a fork's device model must be Xen's QEMU, "
                        + "the only program that loads its device state");
            }
            TrustedPaths.problem(real).ifPresent(why -> {
                throw cfg.error(line, at + "xenfork would run as root a file others can change: " + why);
            });
            // The real path is what was checked, so it is what runs: a link on the way, in a folder others
            // can write, could be pointed elsewhere between this check and QEMU's start.
            return real;
        } catch (IOException e) {
            throw cfg.error(line, at + "cannot check it: " + e);
        }
    }

    /**
     * {@code device_model_args} or {@code device_model_args_hvm}: as they are if {@code limits} say so, else
     * only the options of {@link #ALLOWED_ARGS}. The others are QEMU's hundreds of ways to open a monitor
     * ({@code -qmp}, {@code -monitor}, {@code -mon}), a socket or terminal ({@code -chardev}, {@code -serial}),
     * a host file or device ({@code -drive}, {@code -device}, {@code -object}, {@code -D}, {@code -pidfile}),
     * a plugin, or to take back what xenfork set ({@code -incoming}, {@code -machine}).
     */
    private static List<String> extraArgs(XlConfig cfg, String key, Limits limits) {
        List<String> args = strings(cfg, key);
        if (limits.anyExtraArgs()) {
            return args;
        }
        for (int i = 0; i < args.size(); i++) {
            int line = cfg.get(key).orElseThrow().lineOf(i);
            String a = args.get(i);
            if (a.equals("-S")) {
                continue;
            }
            if (a.equals("-rtc")) {
                if (i + 1 >= args.size() || !RTC.matcher(args.get(i + 1)).matches()) {
                    throw cfg.error(line, key + ": -rtc takes base=…, clock=…, driftfix=… settings (e.g. base=utc)");
                }
                i++;
                continue;
            }
            throw cfg.error(line, key + ": " + Values.quoted(a) + " is not passed from a config: xenfork adds only "
                    + ALLOWED_ARGS + ", since QEMU's other options can open monitors, sockets and host files past "
                    + "its checks; give --allow-dm-args to pass " + key + " as it is, as xl does");
        }
        return args;
    }

    /** {@code text} as a path, or null if it cannot be one (a NUL character). */
    private static Path path(String text) {
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            return null;
        }
    }

    /** xl's disk specs: {@code key=value,...} (xl-disk-configuration), or positional {@code target,format,vdev,access}. */
    private static List<Disk> disks(XlConfig cfg) {
        List<Disk> out = new ArrayList<>();
        List<String> specs = strings(cfg, "disk");
        for (int i = 0; i < specs.size(); i++) {
            String spec = specs.get(i);
            int line = cfg.get("disk").orElseThrow().lineOf(i);
            Map<String, String> kv = diskSpec(cfg, line, spec);
            String where = "disk " + Values.quoted(spec) + ": ";
            String devtype = kv.getOrDefault("devtype", "disk");
            if (!devtype.equals("disk")) {
                throw cfg.error(line, where + "only hard disks (devtype=disk) are launched for forks in this version");
            }
            String access = kv.getOrDefault("access", "rw");
            if (!access.equals("rw") && !access.equals("w")) {
                throw cfg.error(line, where + "qemu-xen has no read-only IDE disks (libxl refuses them too); use access=rw "
                        + "on the fork's own copy of the image");
            }
            String vdev = kv.getOrDefault("vdev", "");
            if (!IDE_VDEV.matcher(vdev).matches()) {
                throw cfg.error(line, where + "vdev " + Values.quoted(vdev) + ": use hda to hdd (emulated IDE disks)");
            }
            String format = kv.getOrDefault("format", "raw");
            if (!FORMATS.contains(format)) {
                throw cfg.error(line, where + "format " + Values.quoted(format) + ": use raw or qcow2");
            }
            String target = kv.get("target");
            if (target == null || target.isEmpty() || !target.startsWith("/") || target.contains(",")) {
                throw cfg.error(line, where + "target must be an absolute path without commas");
            }
            Disk d = new Disk(Path.of(target), format, vdev);
            if (out.stream().anyMatch(o -> o.vdev().equals(vdev))) {
                throw cfg.error(line, where + vdev + " is given twice");
            }
            out.add(d);
        }
        return out;
    }

    private static Map<String, String> diskSpec(XlConfig cfg, int line, String spec) {
        String[] parts = spec.split(",", -1);
        Map<String, String> kv = new HashMap<>();
        String where = "disk " + Values.quoted(spec) + ": ";
        if (spec.contains("=")) {
            for (String p : parts) {
                String t = p.trim();
                int eq = t.indexOf('=');
                if (eq <= 0) {
                    throw cfg.error(line, where + Values.quoted(t) + " is not key=value");
                }
                String key = t.substring(0, eq).toLowerCase(Locale.ROOT);
                if (!DISK_KEYS.contains(key)) {
                    throw cfg.error(line, where + Values.quoted(key) + " is not honoured for a fork's disk "
                            + "(it reads target, format, vdev, access, devtype; backendtype is ignored)");
                }
                String before = kv.put(key, t.substring(eq + 1));
                if (before != null) { // xl keeps the last: a second target could hide behind a first one read by eye
                    throw cfg.error(line, where + key + " is given twice (" + Values.quoted(before) + ", then "
                            + Values.quoted(t.substring(eq + 1)) + "); keep one");
                }
            }
            return kv;
        }
        if (parts.length != 4) {
            throw cfg.error(line, where + "give key=value pairs (format=raw,vdev=hda,access=rw,target=PATH)"
                    + " or the four positional fields target,format,vdev,access");
        }
        kv.put("target", parts[0].trim());
        kv.put("format", parts[1].trim().isEmpty() ? "raw" : parts[1].trim());
        kv.put("vdev", parts[2].trim());
        kv.put("access", parts[3].trim().isEmpty() ? "rw" : parts[3].trim());
        return kv;
    }

    private static void requireValue(XlConfig cfg, String key, String only, String why) {
        atom(cfg, key).filter(v -> !v.equals(only)).ifPresent(v -> {
            throw cfg.error(line(cfg, key), key + " = " + Values.quoted(v) + ": " + why + "; set " + key + " = "
                    + (only.chars().allMatch(Character::isDigit) ? only : "\"" + only + "\""));
        });
    }

    private static Optional<String> atom(XlConfig cfg, String key) {
        Optional<Setting> s = cfg.get(key);
        if (s.isPresent() && s.get().isList()) {
            throw cfg.error(s.get().line(), key + " takes one value, not a list");
        }
        return s.flatMap(Setting::atom);
    }

    /** A decimal number of at most 9 digits (every key's range is below 10^9), as xl's are decimal here. */
    private static Optional<Integer> number(XlConfig cfg, String key) {
        return atom(cfg, key).map(v -> {
            if (!DIGITS.matcher(v).matches()) {
                throw cfg.error(line(cfg, key), key + " = " + Values.quoted(v)
                        + " is not a whole number of at most 9 decimal digits");
            }
            return Integer.parseInt(v);
        });
    }

    /** A key that may be one string or a list of strings (xl accepts both for serial and the args). */
    private static List<String> strings(XlConfig cfg, String key) {
        return cfg.get(key).map(s -> s.isList() ? s.list() : List.of(s.atom().orElseThrow())).orElse(List.of());
    }

    private static void check(XlConfig cfg, String key, int v, int min, int max) {
        if (v < min || v > max) {
            throw cfg.error(line(cfg, key), key + " = " + v + " is out of range (" + min + " to " + max + ")");
        }
    }

    private static int line(XlConfig cfg, String key) {
        return cfg.get(key).map(Setting::line).orElse(0);
    }
}
