package org.xenfork.fork.devicemodel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import java.util.concurrent.LinkedBlockingQueue;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.ForkStep;
import org.xenfork.fork.Forker;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.StoppedException;
import org.xenfork.fork.VmFork;
import org.xenfork.fork.XenstoreDomainNames;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimCall;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;
import org.xenfork.testfixtures.FakeXenstored;
import org.xenfork.xenstore.XenstoreClient;
import org.xenfork.xenstore.XenstoreWatch;

/**
 * The device-model workflows on the simulator, with a fake xenstored and
 * {@link FakeDeviceModel} as QEMU: what runs when, what is refused before any
 * change, and what a failing QEMU leaves (nothing of the fork --launch-dm yes made).
 *
 * <p>Tests about one behaviour that is the same on every release run on one release, mostly 4.17
 * (Debian 12's, the headers CHeaderOracleTest compiles against); what differs by release takes its
 * releases from {@code org.xenfork.abi.Releases}.
 */
class DeviceModelForksTest {
    @TempDir
    Path dir;

    private FakeXenstored xenstored;
    private XenstoreClient xs;
    private SimXen sim;
    private Privcmd privcmd;
    private Hypervisor xen;
    private DeviceModelForks forks;
    private final List<String> notices = new ArrayList<>();
    private final StopRequest stop = new StopRequest();
    private Path state;

    @BeforeEach
    void start() throws IOException {
        xenstored = FakeXenstored.start(dir);
        xs = XenstoreClient.connect(xenstored.socketPath());
        sim = SimXen.create(XenRelease.parse("4.17"));
        privcmd = Privcmd.open(new SimulatedSeam(sim));
        xen = Hypervisor.open(privcmd, null, null, false);
        Files.createDirectories(dir.resolve("run"));
        DeviceModelLauncher launcher = new DeviceModelLauncher(xs, new DeviceModelLauncher.Settings(dir.resolve("run"),
                dir.resolve("log"), Duration.ofSeconds(60), Duration.ofSeconds(5)), notices::add);
        forks = new DeviceModelForks(new Forker(xen, new XenstoreDomainNames(xs), notices::add, stop), launcher);
        state = dir.resolve("parent.state");
        Files.write(state, new byte[] {0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0});
    }

    @AfterEach
    void stop() throws IOException {
        for (SimDomain d : sim.domains()) { // no fake QEMU outlives a test
            xs.read("/local/domain/" + d.domid() + "/image/device-model-pid")
                    .flatMap(p -> ProcessHandle.of(Long.parseLong(p))).ifPresent(ProcessHandle::destroyForcibly);
        }
        xen.close();
        privcmd.close();
        xs.close();
        xenstored.close();
    }

    private DeviceModelConfig config(String name, String mode, int vcpus) throws IOException {
        Path script = FakeDeviceModel.script(dir, xenstored.socketPath(), mode, dir.resolve("report-" + name));
        return DeviceModelConfig.of(XlConfig.parse("name = '" + name + "'\ntype = 'hvm'\nmemory = 64\nvcpus = " + vcpus
                + "\ndevice_model_override = '" + script + "'\n", "t.cfg"));
    }

    @Test
    void forkWithDeviceModelRunsNamedAfterTheConfig() throws IOException {
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 2, 65536).paused());
        VmFork f = forks.fork(parent.domid(), ForkOptions.DEFAULT, config("web-f1", "ok", 2), state).keep();
        SimDomain fork = sim.domain(f.domid()).orElseThrow();
        assertThat(fork.parent()).hasValue(parent.domid());
        assertThat(fork.isPaused()).as("it runs once its QEMU does").isFalse();
        assertThat(xs.read("/local/domain/" + f.domid() + "/name")).hasValue("web-f1");
        assertThat(xs.read("/local/domain/0/device-model/" + f.domid() + "/state")).hasValue("running");
    }

    @Test
    void leavePausedKeepsTheForkPausedWithItsQemuUp() throws IOException {
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 1, 65536).paused());
        VmFork f = forks.fork(parent.domid(), ForkOptions.DEFAULT.paused().named("mine"), config("cfgname", "ok", 1),
                state).keep();
        assertThat(sim.domain(f.domid()).orElseThrow().isPaused()).isTrue();
        assertThat(xs.read("/local/domain/" + f.domid() + "/name")).as("--name wins over the config's").hasValue("mine");
        assertThat(xs.read("/local/domain/" + f.domid() + "/image/device-model-pid")).isPresent();
    }

    @Test
    void aQemuThatFailsTakesTheNewForkWithIt() throws IOException {
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 1, 65536).paused());
        List<Integer> before = sim.domains().stream().map(SimDomain::domid).toList();
        assertThatThrownBy(() -> forks.fork(parent.domid(), ForkOptions.DEFAULT, config("f", "exit", 1), state))
                .isInstanceOfSatisfying(ForkException.class, e -> assertThat(e.step()).isEqualTo(ForkStep.LAUNCH_DM))
                .hasMessageContaining("load of migration failed").hasMessageMatching("(?s).*fork \\d+ destroyed.*");
        assertThat(sim.domains().stream().map(SimDomain::domid).toList()).isEqualTo(before);
        assertThat(xs.read("/local/domain/" + (before.get(before.size() - 1) + 1))).as("nor its name").isEmpty();
    }

    /** What {@link #stoppedWhileQemuStarts} saw: QEMU's pid, and what the workflow threw. */
    private record Stopped(long qemu, Throwable thrown) {
    }

    /**
     * Runs {@code body} on its own thread, requests the stop once QEMU's pid is in xenstore and that thread is parked
     * in the launcher's wait for QEMU's "running" (so only the stop's wake-up can end that wait before the 60 s
     * start timeout), and returns what body threw.
     */
    @SuppressWarnings("try") // the watch is never read: it only has to stay registered while the test waits
    private Stopped stoppedWhileQemuStarts(int domid, Callable<?> body) throws Exception {
        String pidKey = "/local/domain/" + domid + "/image/device-model-pid";
        BlockingQueue<Boolean> changed = new LinkedBlockingQueue<>();
        try (XenstoreClient watcher = XenstoreClient.connect(xenstored.socketPath());
             XenstoreWatch w = watcher.watch(pidKey, e -> changed.offer(Boolean.TRUE))) {
            FutureTask<?> run = new FutureTask<>(body);
            Thread workflow = new Thread(run, "workflow");
            workflow.start();
            while (watcher.read(pidKey).isEmpty()) { // QEMU is started, and the launcher waits for its "running"
                changed.take();
            }
            long qemu = Long.parseLong(watcher.read(pidKey).orElseThrow());
            while (!waitingForRunning(workflow)) {
                Thread.sleep(5); // a condition polled, not a time assumed: the @Timeout bounds it
            }
            stop.request("a test");
            try {
                run.get();
            } catch (ExecutionException e) {
                return new Stopped(qemu, e.getCause());
            }
            throw new AssertionError("the workflow did not stop");
        }
    }

    /** Whether {@code t} is parked in the launcher's wait for "running" (its queue's timed poll). */
    private static boolean waitingForRunning(Thread t) {
        StackTraceElement[] stack = t.getStackTrace();
        boolean inPoll = Arrays.stream(stack).anyMatch(f -> f.getMethodName().equals("poll")
                && f.getClassName().equals(LinkedBlockingQueue.class.getName()));
        boolean inWait = Arrays.stream(stack).anyMatch(f -> f.getMethodName().equals("waitRunning")
                && f.getClassName().equals(DeviceModelLauncher.class.getName()));
        return t.getState() == Thread.State.TIMED_WAITING && inPoll && inWait;
    }

    @Test
    @Timeout(50) // below the 60 s start timeout: a stop that did not wake the wait fails here
    void aStopWhileTheForksQemuStartsKillsItRemovesItsKeysAndDestroysTheFork() throws Exception {
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 1, 65536).paused());
        List<Integer> before = sim.domains().stream().map(SimDomain::domid).toList();
        int fork = before.get(before.size() - 1) + 1;
        DeviceModelConfig cfg = config("f", "silent", 1);
        Stopped s = stoppedWhileQemuStarts(fork, () -> forks.fork(parent.domid(), ForkOptions.DEFAULT, cfg, state));
        long qemu = s.qemu();
        assertThat(s.thrown()).isInstanceOf(StoppedException.class).hasMessage("stopped by a test while QEMU pid " + qemu
                + " for domain " + fork + " was starting; QEMU pid " + qemu + " killed; its xenstore keys removed; fork "
                + fork + " destroyed; parent " + parent.domid() + " stays paused (a parent must be, while it has forks; "
                + "xenfork unpause " + parent.domid() + " once they are destroyed)");
        assertThat(ProcessHandle.of(qemu).filter(ProcessHandle::isAlive)).as("no orphan QEMU").isEmpty();
        assertThat(sim.domains().stream().map(SimDomain::domid).toList()).isEqualTo(before);
        assertThat(xs.read("/local/domain/0/device-model/" + fork)).isEmpty();
        assertThat(xs.read("/local/domain/" + fork)).isEmpty();
        assertThat(xs.read("/libxl/" + fork)).isEmpty();
        assertThat(dir.resolve("run/qmp-libxl-" + fork)).doesNotExist();
        assertThat(parent.isPaused()).isTrue();
    }

    @Test
    @Timeout(50)
    void aStopWhileALateQemuStartsKillsItAndLeavesTheForkAsItWas() throws Exception {
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 1, 65536).paused());
        VmFork f = new Forker(xen, new XenstoreDomainNames(xs), notices::add).fork(parent.domid(),
                ForkOptions.DEFAULT.paused().named("kept")).keep();
        DeviceModelConfig cfg = config("late", "silent", 1);
        Stopped s = stoppedWhileQemuStarts(f.domid(), () -> forks.launch(f.domid(), cfg, state, false));
        long qemu = s.qemu();
        assertThat(s.thrown()).isInstanceOf(StoppedException.class).hasMessage("stopped by a test while QEMU pid " + qemu
                + " for domain " + f.domid() + " was starting; QEMU pid " + qemu + " killed; its xenstore keys removed");
        assertThat(ProcessHandle.of(qemu).filter(ProcessHandle::isAlive)).as("no orphan QEMU").isEmpty();
        assertThat(sim.domain(f.domid()).orElseThrow().isPaused()).isTrue();
        assertThat(xs.read("/local/domain/" + f.domid() + "/name")).hasValue("kept");
        assertThat(xs.read("/local/domain/" + f.domid() + "/image/device-model-pid")).isEmpty();
        assertThat(xs.read("/local/domain/0/device-model/" + f.domid())).isEmpty();
        assertThat(xs.read("/libxl/" + f.domid() + "/dm-version")).isEmpty();
        assertThat(xs.read("/libxl/" + f.domid() + "/type")).as("the name's, from before").hasValue("hvm");
    }

    @Test
    void aStopBeforeTheForksQemuDestroysTheForkAndStartsNoQemu() throws IOException {
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 1, 65536).paused());
        List<Integer> before = sim.domains().stream().map(SimDomain::domid).toList();
        sim.afterCall(SimCall.named("XEN_DOMCTL_createdomain"), done -> stop.request("a test"));
        assertThatThrownBy(() -> forks.fork(parent.domid(), ForkOptions.DEFAULT, config("f", "ok", 1), state))
                .isInstanceOf(StoppedException.class)
                .hasMessageMatching("stopped by a test before fork (\\d+)'s QEMU was started; fork \\1 destroyed; parent "
                        + parent.domid() + " stays paused .*");
        assertThat(dir.resolve("report-f")).as("no QEMU was started").doesNotExist();
        assertThat(sim.domains().stream().map(SimDomain::domid).toList()).isEqualTo(before);
    }

    @Test
    void refusedBeforeAnyChange() throws IOException {
        SimDomain running = sim.addGuest(GuestSpec.hvm("run", 1, 65536));
        SimDomain twoCpus = sim.addGuest(GuestSpec.hvm("two", 2, 65536).paused());
        SimDomain pvh = sim.addGuest(GuestSpec.pvh("pvh", 1, 65536).paused());
        List<Integer> before = sim.domains().stream().map(SimDomain::domid).toList();
        assertThatThrownBy(() -> forks.fork(running.domid(), ForkOptions.DEFAULT, config("f", "ok", 1), state))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("is running: pause it before saving");
        assertThatThrownBy(() -> forks.fork(twoCpus.domid(), ForkOptions.DEFAULT, config("f", "ok", 1), state))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("gives 1 vCPUs").hasMessageContaining("has 2");
        assertThatThrownBy(() -> forks.fork(pvh.domid(), ForkOptions.DEFAULT, config("f", "ok", 1), state))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("(PV or PVH)");
        assertThatThrownBy(() -> forks.launch(0, config("f", "ok", 1), state, false))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("domain 0");
        xs.write("/local/domain/" + running.domid() + "/name", "taken");
        VmFork f = new Forker(xen, new XenstoreDomainNames(xs), notices::add).fork(twoCpus.domid(),
                ForkOptions.DEFAULT.paused()).keep();
        assertThatThrownBy(() -> forks.launch(f.domid(), config("taken", "ok", 2), state, false))
                .isInstanceOf(ForkRequestException.class).hasMessageContaining("'taken' (the config's) is taken by domain");
        assertThat(sim.domains().stream().map(SimDomain::domid).toList()).hasSize(before.size() + 1);
        assertThat(xs.read("/local/domain/0/device-model")).isEmpty();
    }

    @Test
    void laterLaunchNamesAnUnnamedForkAndLetsItRun() throws IOException {
        SimDomain parent = sim.addGuest(GuestSpec.hvm("web", 1, 65536).paused());
        VmFork f = new Forker(xen, new XenstoreDomainNames(xs), notices::add).fork(parent.domid(),
                ForkOptions.DEFAULT.paused()).keep();
        DeviceModel dm = forks.launch(f.domid(), config("late", "ok", 1), state, false);
        assertThat(dm.domid()).isEqualTo(f.domid());
        assertThat(xs.read("/local/domain/" + f.domid() + "/name")).hasValue("late");
        assertThat(sim.domain(f.domid()).orElseThrow().isPaused()).isFalse();
    }
}
