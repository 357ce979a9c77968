package org.xenfork.fork.devicemodel;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.xenfork.fork.ForkException;
import org.xenfork.fork.ForkRequestException;
import org.xenfork.fork.ForkStep;
import org.xenfork.fork.StopRequest;
import org.xenfork.fork.StoppedException;
import org.xenfork.fork.Undo;
import org.xenfork.qmp.QmpClient;
import org.xenfork.xenstore.XenstoreClient;
import org.xenfork.xenstore.XenstoreWatch;
import org.xenfork.xenstore.XsPermission;

/**
 * Starts and stops QEMU device models for forks, the way libxl 4.17 spawns one
 * for an HVM domain restored from a saved device state: the xenstore keys libxl
 * writes, the command line of {@link DeviceModelArgs}, the saved state on QEMU's
 * standard input, and the same readiness signal ({@code running} in
 * {@code /local/domain/0/device-model/N/state}, bounded). A QEMU that does not
 * come up is killed, what was written for it is removed, and the error carries the
 * tail of its log.
 *
 * <pre>{@code
 * DeviceModelConfig cfg = DeviceModelConfig.of(XlConfig.read(Path.of("fork.cfg")));
 * DeviceModel dm = new DeviceModelLauncher(xenstore, Settings.DEFAULT, System.err::println)
 *         .launch(fork, cfg, Path.of("parent.state"));
 * }</pre>
 */
public final class DeviceModelLauncher {
    private static final System.Logger LOG = System.getLogger(DeviceModelLauncher.class.getName());

    /** Detaches QEMU into its own session, as libxl's spawn does, so a closing terminal does not take it along. */
    static final Path SETSID = Path.of("/usr/bin/setsid");
    /** The most of QEMU's log an error quotes. */
    static final int LOG_TAIL_BYTES = 2048;

    /**
     * Where things go, and how long to wait.
     *
     * @param runDir       libxl's run folder ({@code XEN_RUN_DIR}): the QMP sockets
     * @param logDir       libxl's log folder: {@code qemu-dm-NAME.log}
     * @param startTimeout how long QEMU may take to load the state and say {@code running}
     *                     (libxl's {@code LIBXL_DEVICE_MODEL_START_TIMEOUT} is 60 s)
     * @param stopTimeout  how long QEMU gets to exit on SIGTERM before SIGKILL
     */
    public record Settings(Path runDir, Path logDir, Duration startTimeout, Duration stopTimeout) {
        public static final Settings DEFAULT = new Settings(Path.of("/var/run/xen"), Path.of("/var/log/xen"),
                Duration.ofSeconds(60), Duration.ofSeconds(5));
    }

    private final XenstoreClient xs;
    private final Settings settings;
    private final Consumer<String> notices;

    public DeviceModelLauncher(XenstoreClient xs, Settings settings, Consumer<String> notices) {
        this.xs = xs;
        this.settings = settings;
        this.notices = notices;
    }

    /**
     * Starts a device model for the existing, paused-or-running domain {@code domid},
     * loading the device state in {@code saveFile}. Refusals before anything changed
     * are {@link ForkRequestException}s; a QEMU that fails is a {@link ForkException}
     * of step {@link ForkStep#LAUNCH_DM}, after rollback.
     */
    public DeviceModel launch(int domid, DeviceModelConfig cfg, Path saveFile) throws IOException {
        return launch(domid, cfg, saveFile, new StopRequest());
    }

    /**
     * As {@link #launch(int, DeviceModelConfig, Path)}; a {@code stop} requested while QEMU is
     * starting ends the wait for it at once and rolls back as a failure does (QEMU killed, keys and
     * sockets removed), then throws a {@link StoppedException} saying so.
     */
    public DeviceModel launch(int domid, DeviceModelConfig cfg, Path saveFile, StopRequest stop) throws IOException {
        DeviceStateFile.check(saveFile);
        Path qmp = DeviceModelArgs.qmpSocket(settings.runDir(), domid);
        if (settings.runDir().toString().contains(",")) {
            throw new ForkRequestException("run folder " + settings.runDir() + " contains a comma, which QEMU's "
                    + "-chardev cannot carry");
        }
        Optional<String> pid = xs.read(pidKey(domid));
        if (pid.isPresent()) {
            throw new ForkRequestException("domain " + domid + " already has a device model (pid " + pid.get()
                    + " in " + pidKey(domid) + ")");
        }
        if (Files.exists(qmp)) {
            throw new ForkRequestException(qmp + " exists: another QEMU serves domain " + domid
                    + "? If none does, remove the stale socket");
        }
        if (!Files.isExecutable(cfg.binary())) {
            throw new DeviceModelMissingException("device model " + cfg.binary() + " is not an executable file: install "
                    + "Xen's QEMU (Debian: qemu-system-xen), or name yours with device_model_override");
        }
        if (!Files.isExecutable(SETSID)) {
            throw new DeviceModelMissingException(SETSID + " is missing: install util-linux (it detaches QEMU from "
                    + "this session)");
        }
        List<String> argv = DeviceModelArgs.build(cfg, domid, settings.runDir());
        Files.createDirectories(settings.logDir());
        Path log = settings.logDir().resolve("qemu-dm-" + cfg.name() + ".log");
        long logStart = Files.exists(log) ? Files.size(log) : 0; // the log is appended to, as libxl's
        LOG.log(System.Logger.Level.INFO, "device model for domain {0}: {1}", domid, String.join(" ", argv));

        List<String> written = new ArrayList<>();
        Process qemu = null;
        try {
            writeKeys(domid, written);
            List<String> command = new ArrayList<>(argv.size() + 1);
            command.add(SETSID.toString());
            command.addAll(argv);
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectInput(saveFile.toFile())
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectErrorStream(true);
            pb.environment().clear(); // root's environment is not QEMU's business
            pb.environment().put("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            qemu = pb.start();
            xs.write(pidKey(domid), Long.toString(qemu.pid()));
            written.add(pidKey(domid));
            waitRunning(domid, qemu, log, stop);
            String status;
            try (QmpClient c = QmpClient.connect(qmp, settings.startTimeout())) {
                status = c.queryStatus(settings.startTimeout());
            }
            if (!status.equals("running") && !status.equals("paused")) {
                throw new IOException("QEMU's status is " + status + ", not running or paused");
            }
            notices.accept("device model for domain " + domid + " is up: QEMU pid " + qemu.pid() + ", QMP " + qmp
                    + ", log " + log);
            return new DeviceModel(domid, qemu.pid(), qmp, log, status);
        } catch (IOException | RuntimeException e) {
            List<Undo> undone = rollback(domid, qemu, written);
            if (e instanceof StoppedException stopped) {
                throw stopped.withUndo(undone);
            }
            throw new ForkException(ForkStep.LAUNCH_DM, new IOException(e.getMessage() + logTail(log, logStart), e), undone);
        }
    }

    /**
     * Stops the device model of {@code domid}, if it has one: SIGTERM, then SIGKILL
     * after {@link Settings#stopTimeout}, and removes its xenstore keys and sockets.
     * The pid in xenstore is only signalled if that process is a QEMU serving this
     * domain ({@code -xen-domid N} in its command line): pids are reused.
     *
     * @return what was done, for messages ("" when there was no device model)
     */
    public String stop(int domid) throws IOException {
        Optional<ProcessHandle> qemu = xs.read(pidKey(domid)).flatMap(p -> serving(p, domid));
        String done = qemu.map(p -> {
            kill(p);
            return "stopped QEMU pid " + p.pid();
        }).orElse("");
        removeKeys(List.of(pidKey(domid), dmDir(domid), libxl(domid) + "/dm-version"));
        removeSockets(domid);
        return done;
    }

    /** libxl's keys for a domain's device model: its folder (dom0 only), and the libxl DM version xl reads. */
    private void writeKeys(int domid, List<String> written) throws IOException {
        boolean hasLibxl = xs.read(libxl(domid)).isPresent();
        boolean hasType = xs.read(libxl(domid) + "/type").isPresent();
        xs.transaction(tx -> {
            tx.mkdir(dmDir(domid));
            tx.setPermissions(dmDir(domid), List.of(XsPermission.none(0)));
            tx.write(libxl(domid) + "/dm-version", "qemu_xen");
            if (!hasType) {
                tx.write(libxl(domid) + "/type", "hvm");
            }
            return null;
        });
        written.add(dmDir(domid));
        written.add(hasLibxl ? libxl(domid) + "/dm-version" : libxl(domid));
    }

    /**
     * Waits for QEMU's {@code running} in xenstore, QEMU's exit, a stop request, or the start timeout,
     * whichever comes first.
     */
    @SuppressWarnings("try") // the watch and the wake-up are never read: they only have to stay registered
    private void waitRunning(int domid, Process qemu, Path log, StopRequest stop) throws IOException {
        String key = dmDir(domid) + "/state";
        BlockingQueue<Boolean> changed = new LinkedBlockingQueue<>();
        qemu.onExit().thenRun(() -> changed.offer(Boolean.TRUE));
        long deadline = System.nanoTime() + settings.startTimeout().toNanos();
        try (XenstoreWatch w = xs.watch(key, e -> changed.offer(Boolean.TRUE));
             StopRequest.Registration s = stop.onRequest(() -> changed.offer(Boolean.TRUE))) {
            while (true) {
                if (xs.read(key).filter("running"::equals).isPresent()) {
                    return;
                }
                if (stop.requested()) {
                    throw stop.stopped("while QEMU pid " + qemu.pid() + " for domain " + domid + " was starting",
                            List.of(), List.of());
                }
                if (!qemu.isAlive()) {
                    throw new IOException("QEMU exited with status " + qemu.exitValue() + " before it was running");
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || changed.poll(left, TimeUnit.NANOSECONDS) == null) {
                    throw new IOException("QEMU did not write running to " + key + " within "
                            + settings.startTimeout().toSeconds() + " s");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the device model", e);
        }
    }

    private List<Undo> rollback(int domid, Process qemu, List<String> written) {
        List<Undo> done = new ArrayList<>();
        if (qemu != null) {
            try {
                kill(qemu.toHandle());
                done.add(Undo.done(Undo.Action.KILL_DEVICE_MODEL, qemu.pid()));
            } catch (RuntimeException e) {
                done.add(Undo.failed(Undo.Action.KILL_DEVICE_MODEL, qemu.pid(), List.of(), e));
            }
        }
        try {
            removeKeys(written);
            if (!written.isEmpty()) {
                done.add(Undo.done(Undo.Action.REMOVE_DEVICE_MODEL_KEYS, domid, written));
            }
            removeSockets(domid);
        } catch (IOException | RuntimeException e) {
            done.add(Undo.failed(Undo.Action.REMOVE_DEVICE_MODEL_KEYS, domid, written, e));
        }
        return done;
    }

    private void kill(ProcessHandle p) {
        p.destroy();
        try {
            p.onExit().get(settings.stopTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            notices.accept("QEMU pid " + p.pid() + " ignored SIGTERM for " + settings.stopTimeout().toSeconds()
                    + " s; sending SIGKILL");
            p.destroyForcibly();
            p.onExit().join();
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e);
        }
    }

    /** libxl's two QMP sockets of the domain, which QEMU leaves behind when killed. */
    private void removeSockets(int domid) throws IOException {
        Files.deleteIfExists(DeviceModelArgs.qmpSocket(settings.runDir(), domid));
        Files.deleteIfExists(DeviceModelArgs.statSocket(settings.runDir(), domid));
    }

    private void removeKeys(List<String> keys) throws IOException {
        for (String k : keys) {
            xs.rmIfPresent(k);
        }
    }

    /** The process {@code pid} names, if it is alive and a device model of {@code domid}. */
    static Optional<ProcessHandle> serving(String pid, int domid) {
        long p;
        try {
            p = Long.parseLong(pid.trim());
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        Path cmdline = Path.of("/proc", Long.toString(p), "cmdline");
        try {
            String args = new String(Files.readAllBytes(cmdline), StandardCharsets.UTF_8);
            if (!args.contains("\0-xen-domid\0" + domid + "\0")) {
                return Optional.empty();
            }
        } catch (IOException e) {
            return Optional.empty();
        }
        return ProcessHandle.of(p);
    }

    /** The last {@link #LOG_TAIL_BYTES} QEMU wrote to its log after {@code from}, as a suffix for an error message. */
    static String logTail(Path log, long from) {
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
            long len = f.length();
            int n = (int) Math.max(0, Math.min(len - from, LOG_TAIL_BYTES));
            byte[] b = new byte[n];
            f.seek(len - n);
            f.readFully(b);
            String tail = new String(b, StandardCharsets.UTF_8).strip();
            return tail.isEmpty() ? "" : "\nQEMU's log (" + log + ") ends:\n" + tail;
        } catch (IOException e) {
            return "";
        }
    }

    private static String pidKey(int domid) {
        return "/local/domain/" + domid + "/image/device-model-pid";
    }

    private static String dmDir(int domid) {
        return "/local/domain/0/device-model/" + domid;
    }

    private static String libxl(int domid) {
        return "/libxl/" + domid;
    }
}
