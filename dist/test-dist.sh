#!/usr/bin/env bash
# Checks the tarball as a user gets it (issue 7): unpacked in a fresh folder, run with JAVA_HOME unset and PATH
# limited to /usr/bin:/bin behind a `java` that fails (so the system's Java cannot be what runs it); the CDS
# archive re-made for the new place; bash completion loads without errors and completes subcommand names;
# every man page renders without warnings; the size budget; save-devices-state against a stock QEMU. Prints "ok"/"FAIL" lines, exits 1 on any FAIL.
set -uo pipefail
cd "$(dirname "$0")/.."
tgz=$(ls dist/target/xenfork-*-linux-x86_64.tar.gz 2>/dev/null | head -1)
[ -n "$tgz" ] || { echo "test-dist: no tarball; run mvn package first" >&2; exit 3; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
. .ci/check.sh
# A blank in the path on purpose: the launcher must quote everything.
mkdir -p "$tmp/with space"
tar -C "$tmp/with space" -xzf "$tgz"
root=$(ls -d "$tmp/with space"/xenfork-*/)
root=${root%/}
fresh=$tmp/fresh; mkdir -p "$fresh"; tar -C "$fresh" -xzf "$tgz"; fresh=$(ls -d "$fresh"/xenfork-*/); fresh=${fresh%/}
mkdir -p "$tmp/fakebin" && printf '#!/bin/sh\necho "the system java ran" >&2; exit 99\n' > "$tmp/fakebin/java" && chmod +x "$tmp/fakebin/java"
bare() { env -i HOME="$tmp" PATH="$tmp/fakebin:/usr/bin:/bin" "$@"; }

size=$(stat -c %s "$tgz")
check size                0 'within'              sh -c "[ $size -le $((60 * 1024 * 1024)) ] && echo within"
check no-archive-shipped  0 '^0$'                 sh -c "tar -tzf '$tgz' | grep -c 'xenfork\.jsa' || true"
check version             0 '^xenfork [0-9]'      bare "$root/bin/xenfork" --version
check abi-versions        0 '^4\.17 +0x15 +0x15'  bare "$root/bin/xenfork" abi versions
check sim-list            0 '"name":"Domain-0"'   bare "$root/bin/xenfork" --backend sim list --json
check demo                0 'Nothing is left'     bare "$root/bin/xenfork" demo
check verbose             0 '\[INFO\] Forker'     bare "$root/bin/xenfork" -v demo
check no-privcmd          3 'not a Xen dom0|privcmd' bare "$root/bin/xenfork" list
check via-symlink         0 '^xenfork [0-9]'      bare sh -c "ln -s '$root/bin/xenfork' '$tmp/xf' && '$tmp/xf' --version"
# A non-ASCII path with no locale set (bare: env -i, the C locale, where Java 17 names files in ASCII).
cp test-fixtures/src/main/resources/org/xenfork/testfixtures/hvm-samples/hvmctx-hvm.bin "$tmp/ctx-ü.bin"
check c-locale-utf8-path  0 '"rip":"0x7c47"'      bare "$root/bin/xenfork" --json hvm-context show --type CPU "$tmp/ctx-ü.bin"
# Read-only for real (root ignores file modes): a read-only bind mount of a fresh install's lib/, in a private
# mount namespace. It must run on the JDK's archive and write nothing.
check read-only-lib       0 '4\.17 .*nothing written$' unshare --mount sh -c "mount --bind '$fresh/lib' '$fresh/lib' \
    && mount -o remount,bind,ro '$fresh/lib' && env -i PATH=/usr/bin:/bin '$fresh/bin/xenfork' abi versions | tr '\n' ' ' \
    && [ -z \"\$(ls -A '$fresh/lib' | grep -v '^xenfork\.\(jar\|classlist\)\$')\" ] && echo 'nothing written'"
# Two first runs at once: both work, one archive results, no temporary file is left.
check concurrent-first    0 '^ok$'                sh -c "'$fresh/bin/xenfork' --version >/dev/null & '$fresh/bin/xenfork' --version >/dev/null; wait \$!
    ls -A '$fresh/lib' | grep -q '^\.xenfork' && exit 1; [ -f '$fresh/lib/xenfork.jsa' ] && echo ok"
# The archive made by those first runs, used (in a path without blanks: in one with a blank, JDK 17 archives
# the JDK's classes but not xenfork's, which the launcher survives, as the checks above show).
check classlist-qmp       0 'netty classes'       sh -c "n=\$(grep -c '^io/netty/' '$fresh/lib/xenfork.classlist'); [ \$n -ge 100 ] && echo \"\$n netty classes\""
check cds-made-here       0 "^$fresh [0-9]+:[0-9]+\$" cat "$fresh/lib/xenfork.jsa.stamp"
check cds-used            0 'picocli\.CommandLine source: shared objects file' \
                                                  bare env XENFORK_JAVA_OPTS="-Xshare:on -Xlog:class+load=info" "$fresh/bin/xenfork" --version

# The QMP client (Netty's native epoll transport) in the jlink'ed runtime, against a stock QEMU (CI installs it).
if command -v qemu-system-x86_64 >/dev/null; then
    qemu-system-x86_64 -machine pc,accel=tcg -m 64 -nographic -nodefaults -S -qmp "unix:$tmp/q.sock,server=on,wait=off" \
        </dev/null >"$tmp/qemu.log" 2>&1 &
    qemu=$!
    for i in $(seq 1 100); do [ -S "$tmp/q.sock" ] && break; sleep 0.1; done
    check save-devices-state 0 'saved [0-9]+ bytes' bare "$root/bin/xenfork" save-devices-state --qmp "$tmp/q.sock" "$tmp/d.state"
    check qevm-file          0 '^5145564d00000003$' sh -c "head -c 8 '$tmp/d.state' | od -An -tx1 | tr -d ' \n'"
    kill $qemu 2>/dev/null; wait $qemu 2>/dev/null
else
    echo "FAIL save-devices-state: qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"; fail=$((fail + 1))
fi

comp=$root/share/bash-completion/completions/xenfork
check completion-loads    0 '^loaded$'            bash -c "source '$comp' 2>&1 | grep . && exit 1; echo loaded"
check completion-commands 0 'fork-vm.*fork-reset|fork-reset.*fork-vm' bash -c "source '$comp'
    COMP_WORDS=(xenfork fork); COMP_CWORD=1; COMP_LINE='xenfork fork'; COMP_POINT=\${#COMP_LINE}
    _complete_xenfork xenfork fork xenfork; echo \${COMPREPLY[*]}"
check completion-abi      0 'layout'              bash -c "source '$comp'
    COMP_WORDS=(xenfork abi la); COMP_CWORD=2; COMP_LINE='xenfork abi la'; COMP_POINT=\${#COMP_LINE}
    _complete_xenfork xenfork la abi; echo \${COMPREPLY[*]}"
check completion-fuzz     0 'start-cpuid'         bash -c "source '$comp'
    COMP_WORDS=(xenfork fuzz --st); COMP_CWORD=2; COMP_LINE='xenfork fuzz --st'; COMP_POINT=\${#COMP_LINE}
    _complete_xenfork xenfork --st fuzz; echo \${COMPREPLY[*]}"
pages=$(ls "$root"/share/man/man1/xenfork*.1 | wc -l)
check man-pages           0 'pages'               sh -c "[ $pages -ge 15 ] && echo '$pages pages'"
warn=$(for p in "$root"/share/man/man1/*.1; do groff -man -Tutf8 -ww -z "$p" 2>&1; done)
check man-clean           0 'clean'               sh -c "[ -z \"$warn\" ] && echo clean || { echo \"$warn\"; exit 1; }"
check man-fork-vm         0 'block-interrupts'    sh -c "groff -man -Tascii -P-cbou '$root/share/man/man1/xenfork-fork-vm.1' 2>/dev/null"
check man-fuzz            0 'crash was found'     sh -c "groff -man -Tascii -P-cbou '$root/share/man/man1/xenfork-fuzz.1' 2>/dev/null"
echo "test-dist: $passed passed, $fail failed"
[ $fail -eq 0 ]
