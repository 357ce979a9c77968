package org.xenfork.qmp;

import java.util.List;

/**
 * What QEMU says first on a QMP connection:
 * {@code {"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "…"}, "capabilities": ["oob"]}}}.
 *
 * @param packageName the distribution's package string (may be empty)
 * @param capabilities what the server offers; this client enables none of them (no {@code oob})
 */
public record QmpGreeting(int major, int minor, int micro, String packageName, List<String> capabilities) {
    public QmpGreeting {
        packageName = packageName == null ? "" : packageName;
        capabilities = List.copyOf(capabilities);
    }

    /** {@code major.minor.micro}, e.g. {@code 7.2.22}. */
    public String version() {
        return major + "." + minor + "." + micro;
    }

    /** True if QEMU's version is at least {@code major.minor}. */
    public boolean atLeast(int wantMajor, int wantMinor) {
        return major > wantMajor || (major == wantMajor && minor >= wantMinor);
    }
}
