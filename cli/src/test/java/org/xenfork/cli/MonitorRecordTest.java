package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.vmi.Breakpoints;

/** The monitor record's text: written and read back, an older record without an instruction, a damaged one. */
class MonitorRecordTest {
    @TempDir
    Path folder;

    @Test
    void aRecordReadsBackAsWritten() throws Exception {
        byte[] handle = new byte[16];
        handle[3] = 0x7f;
        new MonitorRecord(handle, true, Breakpoints.Instruction.ICEBP, Map.of(0x100000L, (byte) 0x55)).write(folder, 7);
        assertThat(Files.readString(MonitorRecord.path(folder, 7))).contains("instruction icebp\n")
                .contains("breakpoint 0x100000 0x55\n");
        MonitorRecord r = MonitorRecord.read(folder, 7).orElseThrow();
        assertThat(r.handle).isEqualTo(handle);
        assertThat(r.ring).isTrue();
        assertThat(r.instruction).isEqualTo(Breakpoints.Instruction.ICEBP);
        assertThat(r.breakpoints).containsExactly(Map.entry(0x100000L, (byte) 0x55));
    }

    @Test
    void aRecordWithoutAnInstructionLineIsFromBeforeTheChoiceAndMeansInt3() throws Exception {
        Files.writeString(MonitorRecord.path(folder, 3), "xenfork-monitor 1\nhandle " + "00".repeat(16)
                + "\nring off\nbreakpoint 0x5000 0x90\n", StandardCharsets.US_ASCII);
        MonitorRecord r = MonitorRecord.read(folder, 3).orElseThrow();
        assertThat(r.instruction).isEqualTo(Breakpoints.Instruction.INT3);
        assertThat(r.breakpoints).containsExactly(Map.entry(0x5000L, (byte) 0x90));
    }

    @Test
    void anUnknownInstructionIsNotARecordToActOn() throws Exception {
        Files.writeString(MonitorRecord.path(folder, 3), "xenfork-monitor 1\nhandle " + "00".repeat(16)
                + "\nring off\ninstruction hlt\nbreakpoint 0x5000 0x90\n", StandardCharsets.US_ASCII);
        assertThatThrownBy(() -> MonitorRecord.read(folder, 3)).isInstanceOf(RefusedException.class)
                .hasMessageContaining("not a readable xenfork monitor record");
    }
}
