package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.XenRelease;
import org.xenfork.sim.SimXen;

/**
 * {@code xenfork mem} on the simulator: the bytes the simulated guest holds (written and read
 * behind the command's back with {@link SimXen#writeGuestMemory}/{@link SimXen#readGuestMemory}),
 * a fork's copy-on-write, a page walk through tables the test builds, and every refusal.
 */
class MemCommandTest extends CommandRunner {
    private static final int WEB = 2;

    @TempDir
    Path dir;

    private SimXen machine;

    @BeforeEach
    void machine() {
        machine = parentAndWeb(XenRelease.parse("4.17"));
    }

    private Run mem(String... args) {
        String[] all = new String[args.length + 3];
        all[0] = "--backend";
        all[1] = "sim";
        all[2] = "mem";
        System.arraycopy(args, 0, all, 3, args.length);
        return xenfork(r -> machine, all);
    }

    private static byte[] counting(int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 7 + 1);
        }
        return b;
    }

    @Test
    void readsGuestPhysicalBytesAcrossAPageIntoAFile() throws Exception {
        byte[] bytes = counting(32);
        machine.writeGuestMemory(WEB, 0x1ff0, bytes);
        Path out = dir.resolve("bytes.bin");
        Run r = mem("read", "web", "0x1ff0", "32", "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(bytes);
        assertThat(r.err()).contains("32 bytes from 0x1ff0 written to " + out);
    }

    @Test
    void readsAsAHexDumpLedByTheGuestAddress() {
        machine.writeGuestMemory(WEB, 0x3000, "Hello, guest!\n\0\1xyz".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        Run r = mem("read", "2", "0x3000", "19");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out().lines()).containsExactly(
                "0000000000003000  48 65 6c 6c 6f 2c 20 67  75 65 73 74 21 0a 00 01  |Hello, guest!...|",
                "0000000000003010  78 79 7a                                          |xyz|");
    }

    @Test
    void writesHexAndFileBytesThatTheGuestThenHolds() throws Exception {
        Run r = mem("write", "web", "0x4ffe", "--hex", "de ad be ef");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(machine.readGuestMemory(WEB, 0x4ffe, 4)).containsExactly(0xde, 0xad, 0xbe, 0xef);
        assertThat(r.err()).contains("4 bytes written to domain 2 at guest-physical 0x4ffe");

        Path in = dir.resolve("in.bin");
        Files.write(in, counting(5000));
        Run f = mem("write", "2", "0x8000", "-i", in.toString());
        assertThat(f.code()).as(f.err()).isZero();
        assertThat(machine.readGuestMemory(WEB, 0x8000, 5000)).isEqualTo(counting(5000));
    }

    @Test
    void aWriteIntoAForkLeavesItsParentAsItWas() {
        machine.writeGuestMemory(1, 0x6000, new byte[] {1, 2, 3, 4});
        Run fork = xenfork(r -> machine, "--backend", "sim", "fork-vm", "-p", "parent");
        assertThat(fork.code()).as(fork.err()).isZero();
        int child = Integer.parseInt(fork.out().strip());

        assertThat(mem("read", Integer.toString(child), "0x6000", "4").out()).contains(" 01 02 03 04 ");
        Run w = mem("write", Integer.toString(child), "0x6000", "--hex", "09090909");
        assertThat(w.code()).as(w.err()).isZero();
        assertThat(machine.readGuestMemory(child, 0x6000, 4)).containsExactly(9, 9, 9, 9);
        assertThat(machine.readGuestMemory(1, 0x6000, 4)).containsExactly(1, 2, 3, 4);
        assertThat(mem("read", "parent", "0x6000", "4").out()).contains(" 01 02 03 04 ");
    }

    @Test
    void anAddressBeyondTheGuestsMemoryIsRefusedNamingIt() {
        Run r = mem("read", "web", "0x40000000", "16");
        assertThat(r.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(r.err()).startsWith("xenfork: domain 2: ").contains("0x40000000").contains("gfn 0x40000");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void aVirtualAddressIsTranslatedThroughTheVcpusPageTables() throws Exception {
        buildLongModeTables();
        Run regs = xenfork(r -> machine, "--backend", "sim", "hvm-context", "set-reg", "web", "--vcpu", "0",
                "cr0=0x80000011", "cr3=0x10000", "cr4=0x20", "msr_efer=0x500");
        assertThat(regs.code()).as(regs.err()).isZero();
        machine.writeGuestMemory(WEB, 0x20ff8, counting(16));

        Path out = dir.resolve("virt.bin");
        Run r = mem("read", "web", "0x400ff8", "8", "--virtual", "-o", out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(Files.readAllBytes(out)).isEqualTo(java.util.Arrays.copyOf(counting(16), 8));

        Run t = mem("translate", "web", "0x400ff8");
        assertThat(t.code()).as(t.err()).isZero();
        assertThat(t.out().lines()).containsExactly(
                "4-level paging, vCPU 0:",
                "  PML4E at 0x10000 = 0x11003",
                "  PDPTE at 0x11000 = 0x12003",
                "  PDE   at 0x12010 = 0x13003",
                "  PTE   at 0x13000 = 0x20003",
                "  0x400ff8 -> 0x20ff8 (page of 4096 bytes at 0x20000)");

        Run json = xenfork(r2 -> machine, "--backend", "sim", "--json", "mem", "translate", "web", "0x400ff8");
        assertThat(json.out().strip()).isEqualTo("{\"virtual\":\"0x400ff8\",\"physical\":\"0x20ff8\",\"mode\":\"LEVEL4\","
                + "\"page_size\":4096,\"levels\":[{\"level\":\"PML4E\",\"address\":\"0x10000\",\"entry\":\"0x11003\"},"
                + "{\"level\":\"PDPTE\",\"address\":\"0x11000\",\"entry\":\"0x12003\"},"
                + "{\"level\":\"PDE\",\"address\":\"0x12010\",\"entry\":\"0x13003\"},"
                + "{\"level\":\"PTE\",\"address\":\"0x13000\",\"entry\":\"0x20003\"}]}");

        Run w = mem("write", "web", "0x400ffe", "--hex", "aabbccdd", "--virtual");
        assertThat(w.code()).as(w.err()).isEqualTo(Main.EXIT_REFUSED); // 0x401000 has no PTE: nothing written
        assertThat(w.err()).contains("0x401000").contains("PTE");
        assertThat(machine.readGuestMemory(WEB, 0x20ffe, 2)).isEqualTo(java.util.Arrays.copyOfRange(counting(16), 6, 8));

        Run miss = mem("translate", "web", "0x401000");
        assertThat(miss.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(miss.out()).contains("  PDE   at 0x12010 = 0x13003").contains("  PTE   at 0x13008 = 0x0  <- not present");
        assertThat(miss.err()).contains("0x401000");
    }

    /** 4-level tables mapping guest-virtual 0x400000 to guest-physical 0x20000, one 4 KiB page. */
    private void buildLongModeTables() {
        entry(0x10000, 0x11003); // PML4E 0
        entry(0x11000, 0x12003); // PDPTE 0
        entry(0x12010, 0x13003); // PDE 2: 0x400000 >> 21
        entry(0x13000, 0x20003); // PTE 0
    }

    private void entry(long at, long value) {
        machine.writeGuestMemory(WEB, at, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(value).array());
    }

    @Test
    void badArgumentsAreRefusedBeforeAnyDeviceOpens() throws Exception {
        assertRefused(mem("read", "web", "0x1000", "16", "--vcpu", "1"), "--vcpu chooses the page tables");
        assertRefused(mem("read", "web", "0x1000", "0"), "LENGTH must be 1 to 16777216");
        assertRefused(mem("read", "web", "0x1000", "16777217"), "read a larger range in parts");
        assertRefused(mem("read", "web", "-1", "16"), "ADDRESS must be 0 to 0xffffffffffffffff");
        assertRefused(mem("read", "web", "0xfffffffffffffff8", "16"), "run past the top of the address space");
        assertRefused(mem("read", "web", "banana", "16"), "malformed value");
        assertRefused(mem("write", "web", "0x1000", "--hex", "abc"), "--hex must be pairs of hex digits");
        assertRefused(mem("write", "web", "0x1000", "--hex", "zz"), "--hex must be pairs of hex digits");
        assertRefused(mem("write", "web", "0x1000", "--hex", ""), "nothing to write");
        assertRefused(mem("read", "0", "0x1000", "16"), "domain 0");
        Path fifo = org.xenfork.testfixtures.SpecialFiles.fifo(dir.resolve("fifo"));
        assertRefused(mem("write", "web", "0x1000", "-i", fifo.toString()), "not a regular file");
        assertRefused(mem("read", "web", "0x1000", "16", "-o", "/dev/null"), "/dev/null");
    }

    private void assertRefused(Run r, String says) {
        assertThat(r.code()).as(r.err()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains(says);
        assertThat(r.out()).isEmpty();
    }
}
