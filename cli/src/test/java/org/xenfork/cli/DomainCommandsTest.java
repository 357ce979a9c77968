package org.xenfork.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.xenfork.abi.Abi;
import org.xenfork.abi.XenRelease;
import org.xenfork.cli.CommandRunner.Run;
import org.xenfork.sim.GuestSpec;
import org.xenfork.sim.SimXen;

/**
 * {@code info}, {@code list}, {@code pause}, {@code unpause}, {@code destroy}
 * end to end on {@code --backend sim}: the real privcmd code, its bytes read by
 * the simulator.
 */
class DomainCommandsTest extends CommandRunner {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A machine with Domain-0 and two guests: "web" (id 1, running) and "db" (id 2, paused). */
    private static SimXen twoGuests(XenRelease release) {
        SimXen x = SimXen.create(release);
        x.addGuest(GuestSpec.hvm("web", 2, 256 * 1024));
        x.addGuest(GuestSpec.pvh("db", 1, 128 * 1024).paused());
        return x;
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void infoReportsReleaseAndInterfaceVersions(String release) throws IOException {
        Run r = xenfork(SimXen::create, "--backend", "sim", "--xen", release, "info", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode o = JSON.readTree(r.out());
        assertThat(o.get("release").asText()).startsWith(release + ".");
        assertThat(o.get("abi_release").asText()).isEqualTo(release);
        assertThat(o.get("domctl_interface_version").asText()).isEqualTo(
                "0x" + Long.toHexString(Abi.forRelease(XenRelease.parse(release)).constant("XEN_DOMCTL_INTERFACE_VERSION")));
        assertThat(o.get("virt_caps").asText()).contains("hvm").contains("hap");
    }

    @ParameterizedTest(name = "Xen {0}")
    @MethodSource("org.xenfork.abi.Releases#all")
    void listShowsEveryDomainWithNameMemoryVcpusAndState(String release) throws IOException {
        Run r = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "--xen", release, "list", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode arr = JSON.readTree(r.out());
        assertThat(arr).hasSize(3);
        assertThat(arr.get(0).get("name").asText()).isEqualTo("Domain-0");
        JsonNode web = arr.get(1);
        assertThat(web.get("domid").asInt()).isEqualTo(1);
        assertThat(web.get("name").asText()).isEqualTo("web");
        assertThat(web.get("memory_kb").asLong()).isEqualTo(256 * 1024);
        assertThat(web.get("vcpus").asInt()).isEqualTo(2);
        assertThat(arr.get(2).get("state").asText()).contains("p");
        assertThat(web.get("state").asText()).doesNotContain("p");

        Run text = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "--xen", release, "list");
        assertThat(text.out()).containsPattern("(?m)^web +1 +256 +2 ");
        Run longForm = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "--xen", release, "list", "-l", "--json");
        JsonNode db = JSON.readTree(longForm.out()).get(2);
        assertThat(db.get("hvm").asBoolean()).isTrue();
        assertThat(db.get("hap").asBoolean()).isTrue();
        assertThat(db.get("emulation_flags").asText()).isEqualTo("0x1"); // PVH: LAPIC only
    }

    @Test
    void pauseThenUnpauseThenDestroy() {
        Run p = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "pause", "1");
        assertThat(p.code()).as(p.err()).isZero();
        assertThat(p.err()).contains("domain 1 paused");
        assertThat(sim.domain(1).orElseThrow().isPaused()).isTrue();

        SimXen after = sim; // the same machine for the next commands
        Run u = xenfork(r -> after, "--backend", "sim", "unpause", "1");
        assertThat(u.code()).as(u.err()).isZero();
        assertThat(sim.domain(1).orElseThrow().isPaused()).isFalse();

        Run d = xenfork(r -> after, "--backend", "sim", "destroy", "2");
        assertThat(d.code()).as(d.err()).isZero();
        assertThat(sim.domain(2)).isEmpty();
    }

    @Test
    void dryRunShowsTheDomctlAndIssuesNothing() {
        Run r = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "--dry-run", "destroy", "1");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("XEN_DOMCTL_destroydomain (dry run: not issued)").contains("cmd=0x2")
                .contains("domain=0x1");
        assertThat(sim.domain(1)).isPresent();
    }

    @Test
    void traceDecodesEveryHypercall() {
        Run r = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "--trace", "pause", "1");
        assertThat(r.err()).contains("XEN_DOMCTL_getdomaininfo -> 0").contains("XEN_DOMCTL_pausedomain -> 0")
                .contains("interface_version=0x15").contains("out: ").contains("u.getdomaininfo.handle[");
    }

    @Test
    void refusalsAreExitCode1NamingTheCallAndErrno() {
        Run missing = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "pause", "7");
        assertThat(missing.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(missing.err()).contains("XEN_DOMCTL_getdomaininfo (domain 7): ESRCH (3): no such domain");

        Run notPaused = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "unpause", "1");
        assertThat(notPaused.code()).isEqualTo(Main.EXIT_REFUSED);
        assertThat(notPaused.err()).contains("XEN_DOMCTL_unpausedomain (domain 1): EINVAL (22)");
    }

    @Test
    void badDomainIdsAreUsageErrors() {
        for (String bad : new String[] {"0", "32752", "-3", "abc"}) {
            Run r = xenfork(DomainCommandsTest::twoGuests, "--backend", "sim", "destroy", bad);
            assertThat(r.code()).as(bad).isEqualTo(Main.EXIT_USAGE);
            assertThat(r.err()).as(bad).containsAnyOf("domain 0", "out of range", "not a domain id", "no domain is named");
        }
    }

    @Test
    void withoutXenTheRealBackendSaysWhatToDo() {
        org.junit.jupiter.api.Assumptions.assumeFalse(java.nio.file.Files.exists(java.nio.file.Path.of("/dev/xen/privcmd")),
                "this machine is a dom0");
        Run r = xenfork(SimXen::create, "list");
        assertThat(r.code()).isEqualTo(Main.EXIT_ENVIRONMENT);
        assertThat(r.err()).contains("/dev/xen/privcmd").contains("--backend sim");
    }

    @Test
    void everyCommandHasHelpWithAPurposeOptionsAndAnExample() {
        var all = ShellFiles.commands(XenforkCommand.commandLine(new XenforkCommand()));
        assertThat(all).hasSizeGreaterThanOrEqualTo(15);
        for (picocli.CommandLine c : all) {
            String qualified = c.getCommandSpec().qualifiedName(" ");
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(qualified.split(" ")));
            args.remove(0); // "xenfork"
            args.add("--help");
            Run r = xenfork(SimXen::create, args.toArray(String[]::new));
            assertThat(r.code()).as(qualified).isZero();
            assertThat(c.getCommandSpec().usageMessage().description()).as(qualified + ": a one-line purpose").isNotEmpty();
            assertThat(r.out()).as(qualified).contains("Usage: " + qualified).contains("--help").contains("Example");
        }
    }
}
