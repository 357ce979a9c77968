#!/usr/bin/env bash
# Java vs C cost of one hypercall (docs/PERFORMANCE.md): builds bench/target/benchmarks.jar and
# bench/target/hypercall_cost, runs the C program, the JMH benchmarks (with -prof gc for B/op),
# the C program again (so C brackets the Java run on a noisy machine), a short TLB-refill probe,
# and prints one table (also saved as bench/target/hypercall-cost-table.txt).
# No Xen needed: privcmd's fd is a FIFO and the hypercall ioctl is FIONREAD on it.
# About 9 minutes on 2 cores. Tunables (environment):
#   JMH_OPTS  default "-f 3 -wi 4 -w 1 -i 5 -r 1" (SampleTime mode is the benchmark class's own)
#   C_ITER    iterations per timed C run (default 1000000; nosys runs 10x as many)
#   C_RUNS    timed C runs per variant (default 7)
#   SKIP_BUILD=1  reuse bench/target/benchmarks.jar
set -euo pipefail
cd "$(dirname "$0")/.."

JMH_OPTS=${JMH_OPTS:-"-f 3 -wi 4 -w 1 -i 5 -r 1"}
C_ITER=${C_ITER:-1000000}
C_RUNS=${C_RUNS:-7}
out=bench/target
csv=$out/jmh-hypercall-cost.csv
log=$out/jmh-hypercall-cost.log
gcsv=$out/jmh-hypercall-cost-avgt.csv
glog=$out/jmh-hypercall-cost-avgt.log

for tool in java mvn gcc mkfifo; do
    command -v "$tool" >/dev/null 2>&1 || { echo "run-hypercall-cost: $tool is missing" >&2; exit 3; }
done
[ -f /usr/include/xen/domctl.h ] || { echo "run-hypercall-cost: Xen headers missing (apt-get install libxen-dev)" >&2; exit 3; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
    echo "== building bench/target/benchmarks.jar"
    mvn -B -q install -DskipTests -pl bench -am
fi
mkdir -p "$out"
echo "== building $out/hypercall_cost (gcc -O2)"
gcc -O2 -Wall -Wextra -D__XEN_TOOLS__ -o "$out/hypercall_cost" bench/src/main/c/hypercall_cost.c
gcc -O2 -Wall -Wextra -o "$out/tlb_after_syscall" bench/src/main/c/tlb_after_syscall.c

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(java -version 2>&1 | head -1)"
echo "== source: $(git describe --always --dirty 2>/dev/null || echo unknown); uncommitted in abi/privcmd: $(git status --porcelain -- abi privcmd 2>/dev/null | wc -l) file(s)"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== C, before JMH ($C_RUNS runs x $C_ITER)"
"$out/hypercall_cost" "$C_ITER" "$C_RUNS" | tee "$out/c-before.txt"

echo "== JMH $JMH_OPTS -prof gc"
# shellcheck disable=SC2086
java -jar "$out/benchmarks.jar" 'org\.xenfork\.bench\.HypercallCostBenchmark\.' $JMH_OPTS \
    -prof gc -rf csv -rff "$csv" >"$log" 2>&1 || { tail -40 "$log"; exit 1; }
grep -E '^HypercallCostBenchmark\.[A-Za-z0-9]+(:p0\.50|:gc\.alloc\.rate\.norm)? ' "$log" || true

# B/op from AverageTime: in SampleTime mode JMH's own sample buffers add ~0.5 MB/s, which shows as
# ~1 B/op on a 1 us call; an AverageTime run does not have that.
echo "== JMH AverageTime -prof gc (B/op)"
java -jar "$out/benchmarks.jar" \
    'org\.xenfork\.bench\.HypercallCostBenchmark\.(typedDomainInfo|rawHypercall|bareIoctl|protoDomainInfo|typedDomainInfoNoSyscall|rawHypercallNoSyscall)$' \
    -bm avgt -f 1 -wi 3 -w 1 -i 3 -r 1 -prof gc -rf csv -rff "$gcsv" >"$glog" 2>&1 || { tail -40 "$glog"; exit 1; }
grep -E '^HypercallCostBenchmark\.[A-Za-z0-9]+(:gc\.alloc\.rate\.norm)? ' "$glog" || true

echo "== C, after JMH"
"$out/hypercall_cost" "$C_ITER" "$C_RUNS" | tee "$out/c-after.txt"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== context: user code after a syscall on this machine (tlb_after_syscall)"
"$out/tlb_after_syscall" | tee "$out/tlb-after-syscall.txt"

echo
echo "== hypercall cost, ns per call"
echo "   Java: JMH SampleTime - mean ± 99.9% CI over all samples, and the p50/p90 of single timed calls"
echo "   C:    loop = median over runs of a timed loop's mean; p50/p90 of single timed calls"
echo "   Single-call samples include one clock read pair on both sides (see 'timer'); ratio = Java p50 / C p50"
awk -v before="$out/c-before.txt" -v after="$out/c-after.txt" '
function add_c(file,   line, f) {
    while ((getline line < file) > 0) {
        split(line, f, /[ \t]+/)
        if (f[1] != "C") continue
        if (f[3] == "loop") cloop[f[2]] = cloop[f[2]] " " f[4]
        if (f[3] == "p50") { cp50[f[2]] = cp50[f[2]] " " f[4]; cp90[f[2]] = cp90[f[2]] " " f[7] }
    }
    close(file)
}
function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n == 0 ? -1 : (n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
}
BEGIN { FS = ","; add_c(before); add_c(after) }
FNR > 1 && FILENAME ~ /avgt\.csv$/ {
    n = split($0, f, ","); for (i = 1; i <= n; i++) gsub(/"/, "", f[i])
    name = f[1]; sub(/^.*HypercallCostBenchmark\./, "", name)
    if (name ~ /:gc\.alloc\.rate\.norm$/) { sub(/:.*/, "", name); gbop[name] = f[5] }
    next
}
FNR > 1 {
    n = split($0, f, ","); for (i = 1; i <= n; i++) gsub(/"/, "", f[i])
    name = f[1]; sub(/^.*HypercallCostBenchmark\./, "", name)
    if (name ~ /:gc\.alloc\.rate\.norm$/) { sub(/:.*/, "", name); bop[name] = f[5] }
    else if (name ~ /:p0\.50$/) { sub(/:.*/, "", name); p50[name] = f[5] }
    else if (name ~ /:p0\.90$/) { sub(/:.*/, "", name); p90[name] = f[5] }
    else if (name !~ /:/) { score[name] = f[5]; err[name] = f[6] }
}
function row(label, b, cv,   ratio, bytes) {
    if (!(b in score)) return
    ratio = (cv != "" && median(cp50[cv]) > 0) ? sprintf("%.2fx", p50[b] / median(cp50[cv])) : "-"
    bytes = (b in gbop) ? sprintf("%7.2f", gbop[b]) : sprintf("%6.1f*", bop[b])
    printf "%-40s %8.1f ± %-7.1f %7.0f %7.0f %s  %-6s %s\n", label, score[b], err[b], p50[b], p90[b], bytes, ratio, (cv == "" ? "" : "C " cv)
}
function crow(label, v,   loop) {
    loop = median(cloop[v]) < 0 ? "        -" : sprintf("%9.1f", median(cloop[v]))
    printf "%-40s%s %-9s %7.0f %7.0f %7s\n", label, loop, "(loop)", median(cp50[v]), median(cp90[v]), "-"
}
END {
    printf "%-40s %18s %7s %7s %7s  %s\n", "path", "mean ± err", "p50", "p90", "B/op", "p50 vs C"
    row("Java typed  Hypervisor.domainInfo(0)", "typedDomainInfo", "full")
    row("Java raw    Privcmd.hypercall(36,buf)", "rawHypercall", "ioctl")
    row("Java bare   LinuxSeam.ioctl(FIONREAD)", "bareIoctl", "ioctl")
    row("Java proto  (names once + VarHandle)", "protoDomainInfo", "full")
    crow("C full      memset/set/copy/ioctl/copy", "full")
    crow("C ioctl     ioctl(fd, FIONREAD, &hc)", "ioctl")
    print "-- the same without the syscall (the Java work alone):"
    row("Java typed  no syscall", "typedDomainInfoNoSyscall", "nosys")
    row("Java proto  names once, no syscall", "namesOnceNoSyscall", "nosys")
    row("Java proto  + VarHandle, no syscall", "protoNoSyscall", "nosys")
    row("Java raw    no syscall", "rawHypercallNoSyscall", "")
    crow("C full      no syscall", "nosys")
    print "-- pieces:"
    row("Java copy   144 B in + out (MemoryIO)", "copyInOut144", "")
    row("Java jnr-ffi call into libc, no syscall", "ffiNoSyscall", "")
    row("Java timer  (empty body)", "timerBaseline", "")
    crow("C timer     (empty body)", "timer")
    print "B/op from the AverageTime pass; * = from the SampleTime pass (includes ~0.5 MB/s of JMH sample buffers)"
    printf "\ngoal: Java typed within 1.2x of C full (p50): %s\n", \
        (("typedDomainInfo" in p50) && p50["typedDomainInfo"] <= 1.2 * median(cp50["full"])) ? "met" : "NOT met"
}' "$csv" "$gcsv" | tee "$out/hypercall-cost-table.txt"
