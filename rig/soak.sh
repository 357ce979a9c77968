#!/bin/bash
# Soak runs of the real-Xen tier: the proof that it passes every time, kept beside it so anyone can repeat it.
#
#   bash rig/soak.sh tier N   # rig-tier.sh N times in a row (no retry) with every host core kept busy
#                                           # by a spinning process; stops at the first failure
#   bash rig/soak.sh jvms N   # the memory-sharing rig with the tiny and the HVM guest running: xmodify
#                                           # (the torn-fetch probe), then N xenfork commands, each a fresh JVM with
#                                           # its JIT on, in dom0; counts every exit by a signal and every crash report
#   bash rig/soak.sh guests N # the memory-sharing rig with three tiny guests and the HVM guest running, N rounds of
#                                           # `xmodify 15` and one JVM in dom0; stops at the first guest that dies
#                                           # (xl dmesg: Triple fault, domain_crash, emulation failed) and shows its
#                                           # state. The reproducer of "The emulator" (README): with
#                                           # XEN_RIG_SPLIT_CPUS=0 a guest died in round 2 and in round 3 (4 Dec).
#                                           # XEN_RIG_SVM_LOG=FILE adds QEMU's own VMRUN/#VMEXIT log.
#
# Needs the project built (mvn -B -q -DskipTests package). Exit 0 when nothing failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R=$ROOT/rig/xen-rig
export XEN_RIG_DIR=${XEN_RIG_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xen-rig}
mode=${1:-}; n=${2:-}
[[ "$mode" =~ ^(tier|jvms|guests)$ && "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: soak.sh tier|jvms|guests N" >&2; exit 2; }
say() { echo "soak: $*"; }

if [ "$mode" = tier ]; then
    hogs=()
    for _ in $(seq "$(nproc)"); do sh -c 'while :; do :; done' & hogs+=($!); done
    trap 'kill "${hogs[@]}" 2>/dev/null' EXIT
    say "${#hogs[@]} spinning processes keep the host's cores busy"
    for i in $(seq "$n"); do
        t=$(date +%s)
        if bash "$ROOT/rig/rig-tier.sh" > "/tmp/xenfork-soak-tier-$i.log" 2>&1; then
            say "run $i of $n passed in $(( $(date +%s) - t )) s ($(grep -c '^ok: ' "/tmp/xenfork-soak-tier-$i.log") ok lines)"
        else
            say "run $i of $n FAILED after $(( $(date +%s) - t )) s; its output: /tmp/xenfork-soak-tier-$i.log"
            grep -E '^(FAIL|rig-tier: FAIL|rig-tier: .* exited)' "/tmp/xenfork-soak-tier-$i.log"; exit 1
        fi
    done
    say "$n of $n tier runs passed in a row"
    exit 0
fi

trap '"$R" down >/dev/null 2>&1' EXIT
"$R" setup --memshr >/dev/null || exit 1
"$R" down >/dev/null 2>&1
"$R" up --memshr >/dev/null || exit 1

if [ "$mode" = guests ]; then
    for g in soak1 soak2 soak3; do "$R" guest tiny $g >/dev/null || exit 1; done
    XEN_RIG_TIMEOUT=300 "$R" guest hvm soakhvm >/dev/null || exit 1
    say "$("$R" run 'xl cpupool-list | tail -n +2 | tr -s " " | tr "\n" ";"')"
    for i in $(seq "$n"); do
        t=$(date +%s)
        # the count of Xen's lines for a dead guest is the last line; dom0's own work is what the sightings had beside them
        out=$(XEN_RIG_TIMEOUT=900 "$R" run "xmodify 15 | tail -1; java -XX:+UseSerialGC -jar $ROOT/cli/target/xenfork.jar list >/dev/null
            xl dmesg | grep -c -E 'Triple fault|domain_crash|crashed on|emulation failed'" 2>&1)
        dead=$(tail -1 <<<"$out")
        say "round $i of $n: $(head -1 <<<"$out"); $(( $(date +%s) - t )) s"
        if [ "$dead" != 0 ]; then
            say "a guest died in round $i:"
            "$R" run "xl list; xl dmesg | grep -v ' tick ' | grep -A14 -E 'Triple fault|emulation failed' | head -40"
            exit 1
        fi
    done
    say "$n rounds, no guest died"
    exit 0
fi

"$R" guest tiny soaktiny >/dev/null || exit 1
XEN_RIG_TIMEOUT=300 "$R" guest hvm soakhvm >/dev/null || exit 1
X="java -XX:ErrorFile=/share/out/hs_err_%p.log -XX:-CreateCoredumpOnCrash -jar $ROOT/cli/target/xenfork.jar"
# Each command a user would run against running guests; each round trips through every kind of call.
# Under a busy host one JVM takes 10-40 s in dom0; each command says how it ended, so a run cut short still tells.
XEN_RIG_TIMEOUT=$(( 300 + n * 90 )) "$R" run "
    xl list; xmodify 10; echo \"xmodify exit \$?\"
    bad=0
    for i in \$(seq $n); do
        case \$((i % 5)) in
            0) $X list --json ;; 1) $X info ;; 2) $X hvm-context get soaktiny -o /tmp/soak-ctx.bin ;;
            3) $X pause soakhvm && $X unpause soakhvm ;; 4) $X list -l ;;
        esac >/dev/null 2>/tmp/soak-err.txt
        rc=\$?
        echo \"command \$i of $n: exit \$rc\"
        if [ \$rc -ne 0 ]; then bad=\$((bad + 1)); echo \"  \$(head -c 300 /tmp/soak-err.txt)\"; fi
    done
    echo \"JVM-LOOP commands=$n failed=\$bad crash_reports=\$(ls /share/out/hs_err_*.log 2>/dev/null | wc -l)\"
    xl list
    [ \$bad -eq 0 ] && ! ls /share/out/hs_err_*.log >/dev/null 2>&1"
