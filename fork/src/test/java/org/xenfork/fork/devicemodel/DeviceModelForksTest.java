package org.xenfork.fork.devicemodel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xenfork.abi.XenRelease;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkOptions;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.ForkStep;
import org.xenfork.fork.Forker;
import org.xenfork.fork.VmFork;
import org.xenfork.fork.XenstoreDomainNames;
import org.xenfork.privcmd.Hypervisor;
import org.xenfork.privcmd.Privcmd;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimDomain;
import org.xenfork.sim.SimXen;
import org.xenfork.sim.SimulatedSeam;
import org.xenfork.testfixtures.FakeXenstored;
import org.xenfork.xenstore.XenstoreClient;

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
        forks = new DeviceModelForks(new Forker(xen, new XenstoreDomainNames(xs), notices::add), launcher);
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
