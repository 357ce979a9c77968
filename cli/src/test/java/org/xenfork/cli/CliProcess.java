package org.xenfork.cli;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * xenfork's {@link Main} in a JVM of its own, for what only a process shows: a signal, the
 * locale it starts in, a mount namespace. The environment is {@code PATH=/usr/bin:/bin} alone
 * ({@code env -i}, so the C locale); stdout and stderr go to files in a folder of the test's.
 */
final class CliProcess {
    private final Path logs;
    private final Process process;

    private CliProcess(Path logs, Process process) {
        this.logs = logs;
        this.process = process;
    }

    /** {@code java -cp <the tests' class path> org.xenfork.cli.Main args…}. */
    static List<String> xenfork(String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Starts {@code command} with stdin from /dev/null and its output into {@code logs}. */
    static CliProcess start(Path logs, List<String> command) throws IOException {
        Files.createDirectories(logs);
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(logs.resolve("stdout").toFile())
                .redirectError(logs.resolve("stderr").toFile());
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        return new CliProcess(logs, pb.start());
    }

    /** Runs {@code command} to its end (at most a minute). */
    static CommandRunner.Run run(Path logs, List<String> command) throws IOException, InterruptedException {
        CliProcess p = start(logs, command);
        return p.await();
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    /** Waits for the end (at most a minute); the exit code, 128+N after signal N, and what it printed. */
    CommandRunner.Run await() throws IOException, InterruptedException {
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new IOException("xenfork did not end within 60 s; stderr so far: " + stderr());
        }
        return new CommandRunner.Run(process.exitValue(), Files.readString(logs.resolve("stdout"), StandardCharsets.UTF_8),
                stderr());
    }

    String stderr() throws IOException {
        return Files.readString(logs.resolve("stderr"), StandardCharsets.UTF_8);
    }

    /** {@code kill -NAME pid}. */
    void signal(String name) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            kill.destroyForcibly();
            throw new IOException("kill -" + name + " " + process.pid() + " failed");
        }
    }
}
