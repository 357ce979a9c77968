#!/bin/sh
# xenfork, from the Java runtime shipped beside it (no Java needed on the machine).
# Start-up: a CDS archive of the classes common commands load (JDK's and xenfork's) is made from
# lib/xenfork.classlist the first time xenfork runs in a place (about 2 s, once; needs lib/ writable;
# XENFORK_NO_CDS_DUMP=1 skips it), because an archive records the jar's absolute path and serves only there.
# lib/xenfork.jsa.stamp says for which path, jar size and mtime it was made. Without a usable archive the
# runtime's own archive of JDK classes serves (also where the path has a blank: JDK 17 then archives no
# application classes). XENFORK_JAVA_OPTS adds JVM options (split at blanks).
self=$(readlink -f -- "$0") || { echo "xenfork: cannot resolve $0" >&2; exit 3; }
root=$(cd -- "$(dirname -- "$self")/.." && pwd -P) || { echo "xenfork: cannot find its folder from $self" >&2; exit 3; }
java=$root/runtime/bin/java
jar=$root/lib/xenfork.jar
jsa=$root/lib/xenfork.jsa
stamp_file=$root/lib/xenfork.jsa.stamp
[ -x "$java" ] && [ -f "$jar" ] || { echo "xenfork: $root is not a complete xenfork install (runtime/bin/java, lib/xenfork.jar)" >&2; exit 3; }
want=$(printf '%s %s' "$root" "$(stat -c '%s:%Y' -- "$jar")")
share=
if [ -f "$jsa" ] && [ "$(cat -- "$stamp_file" 2>/dev/null)" = "$want" ]; then
    share=-XX:SharedArchiveFile=$jsa
elif [ -w "$root/lib" ] && [ -z "${XENFORK_NO_CDS_DUMP:-}" ] && [ ! -e "$root/lib/xenfork.jsa.failed" ]; then
    tmp=$(mktemp -- "$root/lib/.xenfork.jsa.XXXXXX") || tmp=
    if [ -n "$tmp" ]; then
        trap 'rm -f -- "$tmp"' EXIT INT TERM
        if "$java" -XX:+UseSerialGC -Xshare:dump -XX:SharedClassListFile="$root/lib/xenfork.classlist" \
                -XX:SharedArchiveFile="$tmp" -cp "$jar" >/dev/null 2>&1 && [ -s "$tmp" ] && mv -f -- "$tmp" "$jsa"; then
            printf '%s\n' "$want" > "$stamp_file"
            share=-XX:SharedArchiveFile=$jsa
        else
            : > "$root/lib/xenfork.jsa.failed"   # say it once, not on every run: remove this file to try again
            echo "xenfork: could not make the start-up archive in $root/lib (runs on without it)" >&2
        fi
        rm -f -- "$tmp"
        trap - EXIT INT TERM
    fi
fi
# Java 17 reads arguments and file names in the locale's charset (sun.jnu.encoding, which -D cannot change
# on 17): under C or POSIX that is ASCII, and a path such as ctx-ü.bin cannot even be named. So Java runs in
# a UTF-8 locale (C.UTF-8; glibc 2.35 and later have it built in) unless the current one is UTF-8 already.
[ "$(locale charmap 2>/dev/null)" = UTF-8 ] || export LC_ALL=C.UTF-8
set -f   # XENFORK_JAVA_OPTS is split at blanks, never globbed
# shellcheck disable=SC2086
exec "$java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto ${share:+"$share"} ${XENFORK_JAVA_OPTS:-} \
    -cp "$jar" org.xenfork.cli.Main "$@"
