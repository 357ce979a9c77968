package org.xenfork.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.function.Function;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.devicemodel.DeviceModelLauncher;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimXen;

/**
 * What command-line tests extend: runs one {@code xenfork} command line
 * in-process, capturing stdout, stderr and the exit code, and keeps the
 * simulator {@code --backend sim} ran on in {@link #sim}, so a test can look at
 * what the command did to it.
 */
abstract class CommandRunner {
    record Run(int code, String out, String err) {
    }

    /** The simulator of the last run, or null if the command never opened one. */
    SimXen sim;

    /** The top command of the run in progress (set before it starts): a test reaches its {@link SignalStop} here. */
    XenforkCommand top;

    /** Where device models' sockets and logs are looked for (a test's folders instead of libxl's). */
    DeviceModelLauncher.Settings deviceModels = DeviceModelLauncher.Settings.DEFAULT;

    /** Where {@code xenfork monitor} keeps its records (a test's folder instead of /run/xenfork/monitor). */
    java.nio.file.Path monitorRecords = MonitorRecord.DEFAULT_FOLDER;

    /** Domain-0, "parent" (1, HVM, paused) and "web" (2, HVM, running): the machine the fork-command tests run on. */
    static SimXen parentAndWeb(XenRelease release) {
        SimXen x = SimXen.create(release);
        x.addGuest(GuestSpec.hvm("parent", 1, 65536).paused());
        x.addGuest(GuestSpec.hvm("web", 1, 65536));
        return x;
    }

    /** Runs a command; {@link #sim} is then the simulator it ran on (null if it opened none). */
    Run xenfork(Function<XenRelease, SimXen> factory, String... args) {
        sim = null;
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        top = new XenforkCommand();
        top.simulator = r -> {
            sim = factory.apply(r);
            return sim;
        };
        top.deviceModels = deviceModels;
        top.monitorRecords = monitorRecords;
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), top, args);
        return new Run(code, out.toString(), err.toString());
    }
}
