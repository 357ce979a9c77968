#!/usr/bin/env bash
# Cold start of the unpacked tarball, whole process (docs/PERFORMANCE.md, "Start-up"): for each command, RUNS
# runs (default 21) in each of three set-ups, printing the median and the 10th/90th percentile in ms:
#   no CDS     XENFORK_JAVA_OPTS=-Xshare:off
#   JDK CDS    the runtime's own archive only (XENFORK_NO_CDS_DUMP=1 and no lib/xenfork.jsa)
#   full CDS   the runtime's archive + lib/xenfork.jsa (the launcher's default)
# Timing: date +%s%N around each run (the fork/exec of the shell is in it, as a user's shell would have it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-21}
tgz=$(ls dist/target/xenfork-*-linux-x86_64.tar.gz | head -1)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
tar -C "$tmp" -xzf "$tgz"; root=$(ls -d "$tmp"/xenfork-*/); root=${root%/}
"$root/bin/xenfork" --version >/dev/null            # first run here: re-dumps lib/xenfork.jsa for this place
cp -a "$root" "$tmp/nojsa"; rm -f "$tmp/nojsa/lib/xenfork.jsa" "$tmp/nojsa/lib/xenfork.jsa.stamp"
run_ms() { # env, launcher, args... -> ms of one run
    local envs=$1 bin=$2 t0 t1; shift 2
    t0=$(date +%s%N); env $envs "$bin" "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000 ))
}
summary() { # label, args, microsecond values...
    local label=$1 args=$2; shift 2
    printf '%s\n' "$@" | sort -n | awk -v l="$label" -v a="$args" '{v[NR]=$1} END {
        printf "%-10s %-22s median %6.1f ms   p10 %6.1f   p90 %6.1f   (n=%d)\n", l, a, v[int((NR+1)/2)]/1000, v[int(NR*0.1)+1]/1000, v[int(NR*0.9)]/1000, NR }'
}
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"
commands=("--version" "abi versions" "--backend sim list")
if command -v qemu-system-x86_64 >/dev/null; then # one QMP command against a stock QEMU: Netty's cold start
    qemu-system-x86_64 -machine pc,accel=tcg -m 64 -nographic -nodefaults -S -qmp "unix:$tmp/q.sock,server=on,wait=off" \
        </dev/null >/dev/null 2>&1 &
    qemu=$!; trap 'kill $qemu 2>/dev/null; rm -rf "$tmp"' EXIT
    for i in $(seq 1 100); do [ -S "$tmp/q.sock" ] && break; sleep 0.1; done
    commands+=("save-devices-state --qmp $tmp/q.sock $tmp/d.state")
fi
for args in "${commands[@]}"; do
    a=(); b=(); c=()
    for ((i = 0; i < RUNS; i++)); do   # interleaved, so drift in the machine's speed hits all three alike
        # shellcheck disable=SC2086
        a+=("$(run_ms "XENFORK_JAVA_OPTS=-Xshare:off" "$root/bin/xenfork" $args)")
        # shellcheck disable=SC2086
        b+=("$(run_ms "XENFORK_NO_CDS_DUMP=1" "$tmp/nojsa/bin/xenfork" $args)")
        # shellcheck disable=SC2086
        c+=("$(run_ms "X=1" "$root/bin/xenfork" $args)")
    done
    name=${args%% --qmp*}
    summary "no CDS" "$name" "${a[@]}"; summary "JDK CDS" "$name" "${b[@]}"; summary "full CDS" "$name" "${c[@]}"
done
hello=$(mktemp -d); printf 'public class Hello { public static void main(String[] a) { System.out.println("hi"); } }\n' > "$hello/Hello.java"
if command -v javac >/dev/null; then
    javac -d "$hello" "$hello/Hello.java"
    h=(); for ((i = 0; i < RUNS; i++)); do h+=("$(run_ms "X=1" "$root/runtime/bin/java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$hello" Hello)"); done
    summary "floor" "java Hello (same JVM)" "${h[@]}"
fi
rm -rf "$hello"
