#!/usr/bin/env bash
# Makes dist/target/xenfork-VERSION-linux-x86_64.tar.gz (run by `mvn package` in this module):
#   runtime/   a Java runtime made by jlink with only java.base and jdk.unsupported (jnr-ffi's Unsafe), its default
#              CDS archive for the JDK's classes (--generate-cds-archive)
#   lib/       xenfork.jar; xenfork.classlist, the classes org.xenfork.cli.CdsTraining (common commands on the
#              simulator) loads, from which bin/xenfork makes a static CDS archive where it is unpacked
#   bin/       xenfork (the launcher)
#   share/     bash-completion/completions/xenfork, man/man1/xenfork*.1 (both from the picocli model)
# Needs a JDK 17 with jmods (Debian: openjdk-17-jdk-headless). Budget: 60 MB for the tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:?usage: build-dist.sh VERSION}
jar=cli/target/xenfork.jar
[ -f "$jar" ] || { echo "dist: $jar is missing; build the cli module first" >&2; exit 3; }
JDK=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}
[ -d "$JDK/jmods" ] || { echo "dist: $JDK has no jmods for jlink (Debian: apt-get install openjdk-17-jdk-headless)" >&2; exit 3; }
name=xenfork-$version-linux-x86_64
out=dist/target/$name
rm -rf "$out" "dist/target/$name.tar.gz"; mkdir -p "$out/bin" "$out/lib"

"$JDK/bin/jlink" --module-path "$JDK/jmods" --add-modules java.base,jdk.unsupported \
    --strip-debug --no-man-pages --no-header-files --compress=2 --generate-cds-archive --output "$out/runtime" \
    > "$out.jlink.log" 2>&1 || { cat "$out.jlink.log" >&2; echo "dist: jlink failed" >&2; exit 1; }
# (its CDS dump notes, harmlessly, that java.logging is left out)
[ -f "$out/runtime/lib/server/classes.jsa" ] || { echo "dist: jlink made no CDS archive" >&2; exit 1; }
rm -f "$out/runtime/lib/server/classes_nocoops.jsa"   # used only by heaps over 32 GB
cp "$jar" "$out/lib/xenfork.jar"
install -m 755 dist/src/xenfork-launcher.sh "$out/bin/xenfork"
"$out/runtime/bin/java" -cp "$out/lib/xenfork.jar" org.xenfork.cli.ShellFiles "$out"
# The classes a training run loads (org.xenfork.cli.CdsTraining): the launcher dumps a static archive of them
# where the tarball is unpacked. Static, not a dynamic -XX:ArchiveClassesAtExit archive: JDK 17's dynamic
# archives leave out classes older than Java 6, and picocli's are (major version 49).
"$out/runtime/bin/java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:off \
    -XX:DumpLoadedClassList="$out/lib/xenfork.classlist" -cp "$out/lib/xenfork.jar" org.xenfork.cli.CdsTraining
[ -s "$out/lib/xenfork.classlist" ] || { echo "dist: the training run wrote no class list" >&2; exit 1; }
# The archive itself is path-bound, so it stays out of the tarball; this folder's copy is made here by the
# launcher (the first run below), as it would be where the tarball is unpacked.
tar -C dist/target -czf "dist/target/$name.tar.gz" "$name"
"$out/bin/xenfork" --version >/dev/null
[ -f "$out/lib/xenfork.jsa" ] || { echo "dist: the launcher did not make its CDS archive" >&2; exit 1; }
size=$(stat -c %s "dist/target/$name.tar.gz")
echo "dist: dist/target/$name.tar.gz: $(awk -v s="$size" 'BEGIN{printf "%.1f", s/1048576}') MB (budget 60 MB); unpacked $(du -sm "$out" | cut -f1) MB"
[ "$size" -le $((60 * 1024 * 1024)) ] || { echo "dist: the tarball is over its 60 MB budget" >&2; exit 1; }
