package org.xenfork.fork.devicemodel;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.xenfork.testfixtures.FakeQmpServer;
import org.xenfork.xenstore.XenstoreClient;

/**
 * A stand-in for Xen's QEMU, for {@link DeviceModelLauncherTest}: started by the
 * launcher (through a script that sets its environment), it reports what it was
 * given — pid, arguments, the first bytes of its standard input — and then acts
 * as its {@code FAKE_DM_MODE} says: {@code ok} serves QMP on libxl's socket and
 * writes {@code running} to xenstore as QEMU does; {@code exit} fails as QEMU does
 * on a bad state; {@code silent} never says it is running.
 */
public final class FakeDeviceModel {
    private FakeDeviceModel() {
    }

    /**
     * A script to give as {@code device_model_override}: it sets the fake's environment (the
     * launcher gives QEMU none), lists the descriptors it inherited into {@code fds-MODE} beside
     * {@code report}, and runs this class in a JVM of this test's class path.
     */
    static Path script(Path dir, Path xenstored, String mode, Path report) throws IOException {
        Path script = dir.resolve("qemu-" + mode);
        String java = ProcessHandle.current().info().command().orElseThrow();
        Files.writeString(script, "#!/bin/sh\n"
                + "export XENSTORED_PATH='" + xenstored + "' FAKE_DM_MODE=" + mode + " FAKE_DM_REPORT='" + report + "'\n"
                + "ls -l /proc/$$/fd > '" + dir.resolve("fds-" + mode) + "'\n"
                + "exec '" + java + "' -Xshare:auto -XX:TieredStopAtLevel=1 -cp '" + System.getProperty("java.class.path")
                + "' " + FakeDeviceModel.class.getName() + " \"$@\"\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return script;
    }

    public static void main(String[] args) throws Exception {
        String mode = System.getenv().getOrDefault("FAKE_DM_MODE", "ok");
        List<String> a = List.of(args);
        int domid = Integer.parseInt(a.get(a.indexOf("-xen-domid") + 1));
        String chardev = a.stream().filter(s -> s.startsWith("socket,id=libxl-cmd,")).findFirst().orElseThrow();
        Path qmp = Path.of(chardev.replaceAll(".*path=([^,]+),.*", "$1"));
        byte[] head = System.in.readNBytes(8);
        List<String> report = new ArrayList<>();
        report.add("pid=" + ProcessHandle.current().pid());
        report.add("stdin=" + HexFormat.of().formatHex(head));
        report.add("args=" + String.join(" ", args));
        Files.write(Path.of(System.getenv("FAKE_DM_REPORT")), report);
        System.out.println("fake qemu " + mode + " for domain " + domid);
        switch (mode) {
            case "exit" -> {
                System.err.println("qemu-system-i386: load of migration failed: Invalid argument");
                System.exit(1);
            }
            case "silent" -> Thread.sleep(Long.MAX_VALUE);
            default -> {
                try (FakeQmpServer server = FakeQmpServer.start(qmp);
                     XenstoreClient xs = XenstoreClient.connect()) {
                    // a QEMU that loaded its -incoming state runs (no -S)
                    server.handle("query-status", x -> JsonNodeFactory.instance.objectNode().put("status", "running")
                            .put("singlestep", false).put("running", true));
                    xs.write("/local/domain/0/device-model/" + domid + "/state", "running");
                    Thread.sleep(Long.MAX_VALUE);
                } catch (IOException e) {
                    System.err.println("fake qemu: " + e);
                    System.exit(2);
                }
            }
        }
    }
}
