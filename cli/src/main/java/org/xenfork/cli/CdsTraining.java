package org.xenfork.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Writer;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The training run for xenfork's class-data-sharing archive: the commands a
 * user starts most, in one JVM. {@code dist/build-dist.sh} records the classes
 * they load ({@code -XX:DumpLoadedClassList}) into {@code lib/xenfork.classlist};
 * the tarball's launcher makes a static archive of them where it is unpacked.
 * Everything runs on the simulator, and {@code save-devices-state} against a
 * stand-in QMP server here, so that Netty's classes are archived too (a QMP
 * command's cold start is mostly theirs: docs/PERFORMANCE.md). Output is discarded.
 */
public final class CdsTraining {
    private static final Pattern ID = Pattern.compile("\"id\"\\s*:\\s*(\\d+)");
    private static final Pattern FILE = Pattern.compile("\"filename\"\\s*:\\s*\"([^\"]+)\"");

    private CdsTraining() {
    }

    public static void main(String[] args) throws Exception {
        PrintWriter nowhere = new PrintWriter(Writer.nullWriter());
        String[][] commands = {
            {"--version"}, {"--help"}, {"abi", "versions"}, {"abi", "layout", "--xen", "4.17", "xen_domctl_createdomain"},
            {"abi", "decode", "--xen", "4.17", "xen_mem_sharing_op", "09000300000000000500000000000000"},
            {"--backend", "sim", "info", "--json"}, {"--backend", "sim", "list"}, {"--backend", "sim", "list", "--json"},
            {"--backend", "sim", "--dry-run", "fork-vm", "0x7fef"}, {"--backend", "sim", "pause", "0x7fef"}, {"demo"},
        };
        for (String[] c : commands) {
            Main.run(nowhere, nowhere, c);
        }
        Path dir = Files.createTempDirectory("xenfork-training");
        Path socket = dir.resolve("qmp");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            Thread qemu = new Thread(() -> serve(server), "training-qmp");
            qemu.setDaemon(true);
            qemu.start();
            Main.run(nowhere, nowhere, "save-devices-state", "--qmp", socket.toString(), dir.resolve("s").toString());
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    /**
     * Just enough QMP for one save: the greeting, then {@code {"return": {}}} to each
     * command by its id, after writing a QEVM header where a save names its file.
     */
    private static void serve(ServerSocketChannel server) {
        try (SocketChannel c = server.accept()) {
            write(c, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, "
                    + "\"capabilities\": []}}");
            ByteBuffer in = ByteBuffer.allocate(4096);
            StringBuilder text = new StringBuilder();
            while (c.read(in) > 0) {
                text.append(StandardCharsets.UTF_8.decode(in.flip()));
                in.clear();
                int end;
                while ((end = text.indexOf("\n")) >= 0) { // xenfork's client ends each command with CRLF
                    String command = text.substring(0, end);
                    text.delete(0, end + 1);
                    Matcher file = FILE.matcher(command);
                    if (file.find()) {
                        Files.write(Path.of(file.group(1)), new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0});
                    }
                    Matcher id = ID.matcher(command);
                    write(c, "{\"return\": {}" + (id.find() ? ", \"id\": " + id.group(1) : "") + "}");
                }
            }
        } catch (IOException e) {
            // the training run is over, or failed: either way nothing to tell
        }
    }

    private static void write(SocketChannel c, String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\r\n").getBytes(StandardCharsets.UTF_8));
        while (b.hasRemaining()) {
            c.write(b);
        }
    }
}
