package org.xenfork.fork.devicemodel;

import java.nio.file.Path;

/**
 * A running QEMU device model of a domain, as {@link DeviceModelLauncher} left it.
 *
 * @param domid  the domain it serves
 * @param pid    QEMU's process id (also in {@code /local/domain/N/image/device-model-pid})
 * @param qmp    its QMP socket (libxl's path, so {@code xl unpause} and {@code xl destroy} find it)
 * @param log    where its output goes
 * @param status QMP {@code query-status} once it came up: {@code running}, or {@code paused} if the
 *               command line held it ({@code -S})
 */
public record DeviceModel(int domid, long pid, Path qmp, Path log, String status) {
}
