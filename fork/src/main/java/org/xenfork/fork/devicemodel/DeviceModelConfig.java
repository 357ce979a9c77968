package org.xenfork.fork.devicemodel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
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
    private static final Set<String> FORMATS = Set.of("raw", "qcow2");
    private static final int MAX_MIB = 16 << 20;
    private static final int MAX_VCPUS = 4096;

    /** The device-model subset of {@code cfg}; a {@link ForkRequestException} names the first line it cannot honour. */
    public static DeviceModelConfig of(XlConfig cfg) {
        for (Setting s : cfg.settings().values()) {
            if (!HONOURED.contains(s.key()) && !DOMAIN_BUILD_KEYS.contains(s.key())) {
                throw cfg.error(s.line(), s.key() + ": xenfork cannot honour this key for a fork's device model; "
                        + "remove it (it reads: " + String.join(", ", HONOURED_ORDER) + ")");
            }
        }
        String type = atom(cfg, "type").or(() -> atom(cfg, "builder")).orElse("");
        if (!type.equals("hvm")) {
            throw new ForkRequestException(cfg.source() + ": type = \"" + type
                    + "\": a device model is for HVM guests; set type = \"hvm\"");
        }
        atom(cfg, "device_model_version").filter(v -> !v.equals("qemu-xen")).ifPresent(v -> {
            throw cfg.error(line(cfg, "device_model_version"), "device_model_version = \"" + v
                    + "\": only qemu-xen (upstream QEMU) can load a saved device state with -incoming");
        });
        String name = atom(cfg, "name").orElseThrow(() -> new ForkRequestException(cfg.source()
                + ": name is missing; the fork's device model needs one"));
        if (!DomainNames.VALID.matcher(name).matches()) {
            throw cfg.error(line(cfg, "name"), "name \"" + name + "\": use a letter, then letters, digits, . _ -"
                    + " (at most 64)");
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
        check(cfg, "memory", memory, 1, MAX_MIB);
        check(cfg, "vcpus", vcpus, 1, MAX_VCPUS);
        check(cfg, "maxvcpus", maxVcpus, vcpus, MAX_VCPUS);
        String boot = atom(cfg, "boot").orElse("cd");
        if (!BOOT.matcher(boot).matches()) {
            throw cfg.error(line(cfg, "boot"), "boot = \"" + boot + "\": use drive letters a, c, d, n (e.g. \"c\")");
        }
        List<Disk> disks = disks(cfg);
        List<String> serials = strings(cfg, "serial");
        for (String s : serials) {
            if (s.equals("stdio") || s.startsWith("mon:")) {
                throw cfg.error(line(cfg, "serial"), "serial = \"" + s + "\": the device model's standard input "
                        + "carries the device state; use a file: or pty serial");
            }
        }
        boolean platformPci = number(cfg, "xen_platform_pci").orElse(1) != 0;
        boolean nographic = number(cfg, "nographic").orElse(0) != 0;
        Path binary = atom(cfg, "device_model_override").map(Path::of).orElse(DEFAULT_BINARY);
        if (!binary.isAbsolute()) {
            throw cfg.error(line(cfg, "device_model_override"), "device_model_override must be an absolute path");
        }
        List<String> extra = new ArrayList<>(strings(cfg, "device_model_args"));
        extra.addAll(strings(cfg, "device_model_args_hvm"));
        return new DeviceModelConfig(name, memory, vcpus, maxVcpus, List.copyOf(disks), serials, boot, nographic,
                platformPci, binary, List.copyOf(extra));
    }

    /** xl's disk specs: {@code key=value,...} (xl-disk-configuration), or positional {@code target,format,vdev,access}. */
    private static List<Disk> disks(XlConfig cfg) {
        List<Disk> out = new ArrayList<>();
        int line = line(cfg, "disk");
        for (String spec : strings(cfg, "disk")) {
            Map<String, String> kv = diskSpec(cfg, line, spec);
            String where = "disk \"" + spec + "\": ";
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
                throw cfg.error(line, where + "vdev \"" + vdev + "\": use hda to hdd (emulated IDE disks)");
            }
            String format = kv.getOrDefault("format", "raw");
            if (!FORMATS.contains(format)) {
                throw cfg.error(line, where + "format \"" + format + "\": use raw or qcow2");
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
        if (spec.contains("=")) {
            for (String p : parts) {
                String t = p.trim();
                int eq = t.indexOf('=');
                if (eq <= 0) {
                    throw cfg.error(line, "disk \"" + spec + "\": \"" + t + "\" is not key=value");
                }
                String key = t.substring(0, eq).toLowerCase(Locale.ROOT);
                if (!Set.of("target", "format", "vdev", "access", "devtype", "backendtype").contains(key)) {
                    throw cfg.error(line, "disk \"" + spec + "\": " + key + " is not honoured for a fork's disk "
                            + "(it reads target, format, vdev, access, devtype; backendtype is ignored)");
                }
                kv.put(key, t.substring(eq + 1));
            }
            return kv;
        }
        if (parts.length != 4) {
            throw cfg.error(line, "disk \"" + spec + "\": give key=value pairs (format=raw,vdev=hda,access=rw,target=PATH)"
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
            throw cfg.error(line(cfg, key), key + " = " + v + ": " + why + "; set " + key + " = "
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

    private static Optional<Integer> number(XlConfig cfg, String key) {
        return atom(cfg, key).map(v -> {
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                throw cfg.error(line(cfg, key), key + " = \"" + v + "\" is not a whole number");
            }
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
