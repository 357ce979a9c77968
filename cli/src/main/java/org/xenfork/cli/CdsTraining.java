package org.xenfork.cli;

import java.io.PrintWriter;
import java.io.Writer;

/**
 * The training run for xenfork's class-data-sharing archive: the commands a
 * user starts most, in one JVM. {@code dist/build-dist.sh} records the classes
 * they load ({@code -XX:DumpLoadedClassList}) into {@code lib/xenfork.classlist};
 * the tarball's launcher makes a static archive of them where it is unpacked.
 * Everything runs on the simulator; output is discarded.
 */
public final class CdsTraining {
    private CdsTraining() {
    }

    public static void main(String[] args) {
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
    }
}
