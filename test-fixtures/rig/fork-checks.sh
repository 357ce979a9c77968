#!/bin/bash
# The fork checks of issue 8 against real Xen: runs inside the rig's dom0 (../shared/xen-rig, booted with
# `up --memshr`), on a `guest tiny NAME` parent, with xenfork's jar at $XENFORK_JAR (default /share/xenfork.jar).
# xl and xenstore-* (the real toolstack) are the judges. Prints "ok:"/"FAIL:" lines and exits 1 on any FAIL.
#
# Guests are paused (with xl) whenever a JVM starts: under the rig's TCG emulation JVMs in dom0 have crashed at
# random while a guest was running (docs/PRIVCMD.md); `fork-vm --count` leaves its forks running on purpose,
# as the command's default, and they are paused again before the next JVM.
set -u
P=$(xl domid "${1:?usage: fork-checks.sh PARENT_NAME}") || exit 2
XF="java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -jar ${XENFORK_JAR:-/share/xenfork.jar}"
ticks() { xl dmesg | grep -a "(d$1) tiny tick" | awk '{print $NF}'; }
hex() { printf '%d' "0x${1:-0}"; }
fails=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fails=$((fails + 1)); fi; }
run_for() { xl unpause "$1"; sleep "$2"; xl pause "$1"; }

xl pause "$P"; sleep 1
last=$(ticks "$P" | tail -1)
echo "parent d$P paused at tick $last"

# 1. a named, paused fork continues from the parent's count
F=$($XF fork-vm -p --name tf "$P"); rc=$?
check "fork-vm -p --name tf exits 0 and prints a domid ($F)" '[ $rc -eq 0 ] && [[ "$F" =~ ^[0-9]+$ ]]'
check "xl list shows fork $F as tf, paused" 'xl list | grep -Eq "^tf +$F .* --p---"'
run_for "$F" 3
first=$(ticks "$F" | head -1); n=$(ticks "$F" | wc -l)
d=$(( $(hex "$first") - $(hex "$last") ))
# +1, or +2 when the parent was paused in the middle of printing a line
check "fork $F continues from the parent's count ($last -> $first, $n ticks)" '[ $d -eq 1 ] || [ $d -eq 2 ]'

# 2. fork-reset brings it back
$XF fork-reset "$F"; rc=$?
check "fork-reset $F exits 0" '[ $rc -eq 0 ]'
run_for "$F" 2
again=$(ticks "$F" | sed -n "$((n + 1))p")
check "after fork-reset fork $F restarts at the same tick ($first, got $again)" '[ "$again" = "$first" ]'
$XF fork-reset --state tf; rc=$?
check "fork-reset --state by name exits 0" '[ $rc -eq 0 ]'

# 3. three forks at once, unpaused by xenfork
MANY=$($XF fork-vm --count 3 --name many "$P"); rc=$?
for m in $MANY; do xl pause "$m"; done
check "fork-vm --count 3 exits 0 with three domids ($(echo $MANY))" '[ $rc -eq 0 ] && [ $(echo $MANY | wc -w) -eq 3 ]'
check "xl list shows many, many-2, many-3" '[ $(xl list | grep -Ec "^many(-2|-3)? ") -eq 3 ]'
ran=0; for m in $MANY; do [ "$(ticks "$m" | wc -l)" -gt 0 ] && ran=$((ran + 1)); done
check "all three forks ran" '[ $ran -eq 3 ]'

# 4. a fork of a fork (KF/x's sink and fuzz forks)
flast=$(ticks "$F" | tail -1)
G=$($XF fork-vm -p "$F"); rc=$?
check "fork-vm of fork $F exits 0 ($G)" '[ $rc -eq 0 ] && [[ "$G" =~ ^[0-9]+$ ]]'
run_for "$G" 2
gfirst=$(ticks "$G" | head -1); d=$(( $(hex "$gfirst") - $(hex "$flast") ))
check "fork $G of fork $F continues from its count ($flast -> $gfirst)" '[ $d -eq 1 ] || [ $d -eq 2 ]'

# 5. errors name the step and errno, and change nothing
out=$($XF fork-reset "$P" 2>&1); rc=$?
check "fork-reset of a domain that is no fork: exit 1, ENOSYS, says so ($out)" '[ $rc -eq 1 ] && [[ "$out" == *ENOSYS*"not a fork"* ]]'

# 6. destroy everything made here; xl and xenstore see nothing left
$XF destroy "$G" && $XF destroy "$F"
for m in $MANY; do $XF destroy "$m"; done
check "only Domain-0 and the parent are left" '[ "$(xl list | awk "NR>1 {print \$2}" | sort -n | tr "\n" " ")" = "0 $P " ]'
left=0; for d in $F $G $MANY; do xenstore-exists "/local/domain/$d" 2>/dev/null && left=$((left + 1)); xenstore-exists "/libxl/$d" 2>/dev/null && left=$((left + 1)); done
check "no xenstore entries left for the forks" '[ $left -eq 0 ]'
check "the parent is paused by the controller (as before)" 'xl list | grep -Eq "^\S+ +$P .* --p---"'
echo "fork-checks: $fails failed"
[ $fails -eq 0 ]
