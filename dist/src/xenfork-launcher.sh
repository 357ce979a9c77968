#!/bin/sh
# xenfork, from the Java runtime shipped beside it (no Java needed on the machine).
# Start-up: lib/xenfork.jsa is a CDS archive of the classes common commands load (JDK's and xenfork's). It
# records the jar's absolute path, so it serves only where it was dumped (lib/xenfork.jsa.root). Unpacked
# elsewhere, the first run re-dumps it here from lib/xenfork.classlist, once (about 2 s; needs lib/ writable;
# XENFORK_NO_CDS_DUMP=1 skips that); until then the runtime's own archive of JDK classes serves.
# XENFORK_JAVA_OPTS adds JVM options.
self=$(readlink -f "$0")
root=$(cd "$(dirname "$self")/.." && pwd)
java=$root/runtime/bin/java
jar=$root/lib/xenfork.jar
jsa=$root/lib/xenfork.jsa
opts="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"
if [ -f "$jsa" ] && [ "$(cat "$root/lib/xenfork.jsa.root" 2>/dev/null)" = "$root" ]; then
    opts="$opts -XX:SharedArchiveFile=$jsa"
elif [ -w "$root/lib" ] && [ -z "${XENFORK_NO_CDS_DUMP:-}" ]; then
    tmp=$root/lib/.xenfork.jsa.$$
    if "$java" -XX:+UseSerialGC -Xshare:dump -XX:SharedClassListFile="$root/lib/xenfork.classlist" \
            -XX:SharedArchiveFile="$tmp" -cp "$jar" >/dev/null 2>&1 && [ -f "$tmp" ] && mv -f "$tmp" "$jsa"; then
        echo "$root" > "$root/lib/xenfork.jsa.root"
        opts="$opts -XX:SharedArchiveFile=$jsa"
    else
        rm -f "$tmp"
    fi
fi
# shellcheck disable=SC2086 # opts are words on purpose
exec "$java" $opts ${XENFORK_JAVA_OPTS:-} -cp "$jar" org.xenfork.cli.Main "$@"
