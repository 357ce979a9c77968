#!/bin/bash
# The real-Xen tier (issue 4): boots Debian's stock Xen 4.17 and the rig's memory-sharing build in turn under
# QEMU, starts a tiny guest in each (and, on the memory-sharing build, an HVM guest with a libxl-started QEMU
# device model), and runs org.xenfork.rig.RigChecks inside dom0 against them — one JVM per hypervisor. Installs and caches what it needs (rig/xen-rig setup --memshr; cache $XEN_RIG_DIR,
# default ~/.cache/xen-rig). Needs the project built first (cli/target/xenfork.jar and rig/target/classes).
#
#   bash rig/rig-tier.sh [stock|memshr]...     (default: both)
#
# Exit 0 when every check passed. On a failure it prints the tail of the serial log, dom0's boot log and
# `xl dmesg`. QEMU never outlives it (trap; `xen-rig down` kills the recorded PID if poweroff hangs).
# Nothing is tried twice: a check that fails, fails the tier (rig/README.md, "TCG workarounds", says
# why the emulation no longer crashes dom0's processes).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R=$ROOT/rig/xen-rig
export XEN_RIG_DIR=${XEN_RIG_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xen-rig}
# One run of the checks: about 2 min on a quiet host, 8 on one whose cores are kept busy (soak.sh); then killed.
export XEN_RIG_TIMEOUT=${XEN_RIG_TIMEOUT:-900}
CP=$ROOT/cli/target/xenfork.jar:$ROOT/rig/target/classes
# The JVM as users run it (JIT on). A crash report, should there be one, is printed by logs().
JAVA_OPTS=${RIG_JAVA_OPTS:-"-XX:+UseSerialGC -XX:ErrorFile=/share/out/hs_err_%p.log -XX:-CreateCoredumpOnCrash"}
GUEST=rigparent
HVM=righvm   # memshr: an HVM guest with a libxl-started QEMU, for the device-model half (DeviceModelChecks)
FUZZ=rigfuzz # memshr: guests/fuzz-target, for xenfork fuzz (FuzzChecks)
flavors=("$@"); [ ${#flavors[@]} -gt 0 ] || flavors=(stock memshr)

say() { echo "rig-tier: $*"; }
[ -f "$ROOT/cli/target/xenfork.jar" ] && [ -f "$ROOT/rig/target/classes/org/xenfork/rig/RigChecks.class" ] \
    || { say "build first: mvn -B -q -DskipTests package (cli/target/xenfork.jar or rig/target/classes is missing)"; exit 3; }
# If this script is killed outright (SIGKILL from a CI timeout), its trap cannot run, and QEMU, started with
# setsid, would live on: a watchdog in its own session powers the rig down once this script's PID is gone.
# On a normal exit the trap powers it down and stops the watchdog.
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 5; done; "$2" down >/dev/null 2>&1' watchdog $$ "$R" \
    </dev/null >/dev/null 2>&1 &
watchdog=$!
trap '"$R" down >/dev/null 2>&1; kill $watchdog 2>/dev/null' EXIT

logs() {
    say "--- tail of the serial log ($XEN_RIG_DIR/logs/serial.log)"; tail -40 "$XEN_RIG_DIR/logs/serial.log" 2>/dev/null
    say "--- dom0 boot log"; tail -20 "$XEN_RIG_DIR/share/out/boot.log" 2>/dev/null
    for f in "$XEN_RIG_DIR"/share/out/hs_err_*.log; do [ -e "$f" ] && { say "--- JVM crash report $f"; head -40 "$f"; }; done
    if "$R" status >/dev/null 2>&1; then
        say "--- xl list; xl dmesg (tail)"; XEN_RIG_TIMEOUT=60 "$R" run 'xl list; xl dmesg | tail -30' 2>&1
        say "--- the emulated CPUs (xen-rig emu-state: QEMU's monitor, which answers when dom0 does not)"
        timeout 120 "$R" emu-state 2>&1 | grep -v '^[XY]MM[0-9]\|^[CDEFGS]S \|^[GI]DT=\|^LDT=\|^TR =\|^DR[0-9]\|^FCW=\|^FPR[0-9]\|^CCS=\|^EFER='
    fi
}

t0=$(date +%s)
setup_args=(); [[ " ${flavors[*]} " == *" memshr "* ]] && setup_args=(--memshr)
timeout 1200 "$R" setup "${setup_args[@]}" \
    || { say "setup failed or took over 20 min: the rig could not install or build what it needs (above)"; exit 1; }
say "setup done in $(( $(date +%s) - t0 )) s"

failed=0
"$R" down >/dev/null 2>&1   # a rig left up by an earlier run that was killed
# The rig's own bad conditions: each must fail fast, say why, and leave no QEMU behind.
qemus() { pgrep -f -- "path=$XEN_RIG_DIR/share,mount_tag=xenrigshare" | wc -l; }
bad() { # name, expected message (grep -E), env assignments for xen-rig up
    local name=$1 want=$2 out rc; shift 2
    out=$(env "$@" "$R" up 2>&1); rc=$?
    if [ $rc -ne 0 ] && grep -Eq "$want" <<<"$out" && [ "$(qemus)" -eq 0 ]; then say "ok: $name fails fast, says so, no QEMU left"
    else say "FAIL: $name: exit $rc, QEMU processes left: $(qemus), output:"; echo "$out" | tail -5; failed=1; fi
    "$R" down >/dev/null 2>&1
}
bad "QEMU that cannot start (64 TiB of RAM)" "QEMU exited before dom0 became ready" XEN_RIG_MEM=67108864
bad "dom0 not up within its bound (2 s)" "not READY after 2s; stopping QEMU" XEN_RIG_BOOT_TIMEOUT=2

for flavor in "${flavors[@]}"; do
    up_args=(); [ "$flavor" = memshr ] && up_args=(--memshr)
    t1=$(date +%s)
    "$R" down >/dev/null 2>&1
    if ! "$R" up "${up_args[@]}" >/dev/null; then say "$flavor: Xen/dom0 did not come up"; logs; failed=1; continue; fi
    # The guests run while xenfork works on them, as users' guests do; checks that need one paused pause it.
    if ! "$R" guest tiny "$GUEST" >/dev/null; then say "$flavor: the tiny guest did not start"; logs; failed=1; "$R" down >/dev/null 2>&1; continue; fi
    hvm=(); fuzz_opt=
    if [ "$flavor" = memshr ]; then
        if ! XEN_RIG_TIMEOUT=300 "$R" guest hvm "$HVM" >/dev/null; then
            say "$flavor: the HVM guest did not start"; logs; failed=1; "$R" down >/dev/null 2>&1; continue
        fi
        hvm=("$HVM")
        # The fuzz target spins between its harness CPUIDs: paused until FuzzChecks let it run to the harness.
        if ! "$R" guest fuzz "$FUZZ" >/dev/null || ! "$R" run "xl pause $FUZZ" >/dev/null; then
            say "$flavor: the fuzz target did not start"; logs; failed=1; "$R" down >/dev/null 2>&1; continue
        fi
        fuzz_opt="-Drig.fuzzTarget=$FUZZ"
    fi
    # The rig's own two guards against the emulation faults that once crashed dom0's processes (README.md, "TCG
    # workarounds"): Xen switches dom0's FPU state eagerly, and cross-modified code is executed whole.
    "$R" run 'xl dmesg | grep -q "Support for PV VMs:.*EAGER_FPU" && echo "ok: Xen switches the FPU state of dom0 eagerly" \
                  || { echo "FAIL: Xen switches the FPU state of dom0 lazily (spec-ctrl=eager-fpu is missing)"; exit 1; }
              xmodify 10 && echo "ok: dom0 executes cross-modified code whole (xmodify)" \
                  || { echo "FAIL: dom0 executed a torn cross-modified instruction (xmodify)"; exit 1; }' || failed=1
    "$R" run "cd /tmp && exec java $JAVA_OPTS $fuzz_opt -cp $CP org.xenfork.rig.RigChecks $flavor $GUEST ${hvm[*]:-}"
    rc=$?
    say "$flavor: checks exited $rc after $(( $(date +%s) - t1 )) s (boot included)"
    if [ $rc -eq 0 ] && [ "$flavor" = stock ]; then
        # The shipped tarball, unpacked in dom0, on the real hypervisor (issue 7): its own runtime, not the host's.
        tgz=$(ls "$ROOT"/dist/target/xenfork-*-linux-x86_64.tar.gz 2>/dev/null | head -1)
        if [ -z "$tgz" ]; then say "FAIL: no tarball in dist/target (mvn package builds it)"; rc=1
        else
            "$R" run "rm -rf /tmp/xf && mkdir /tmp/xf && tar -xzf $tgz -C /tmp/xf && X=\$(ls -d /tmp/xf/xenfork-*)/bin/xenfork
                env -i PATH=/usr/bin:/bin \$X info --json | grep -q '\"xen_major\":\"4\"' && echo 'ok: tarball info' || { echo 'FAIL: tarball info'; exit 1; }
                env -i PATH=/usr/bin:/bin \$X list | grep -q '^$GUEST ' && echo 'ok: tarball list' || { echo 'FAIL: tarball list'; exit 1; }"
            rc=$?
        fi
    fi
    [ $rc -eq 0 ] || { logs; failed=1; }
    "$R" down >/dev/null 2>&1
done
say "done in $(( $(date +%s) - t0 )) s: $([ $failed -eq 0 ] && echo passed || echo FAILED)"
exit $failed
