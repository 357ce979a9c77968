#!/usr/bin/env bash
# Makes dist/target/xenfork-VERSION-linux-x86_64.tar.gz (run by `mvn package` in this module):
#   runtime/   a Java runtime made by jlink with only java.base and jdk.unsupported (jnr-ffi's Unsafe), its default
#              CDS archive for the JDK's classes (--generate-cds-archive)
#   lib/       xenfork.jar; xenfork.classlist, the classes org.xenfork.cli.CdsTraining (common commands on the
#              simulator) loads; xenfork.jsa, a static CDS archive of them (JDK and xenfork classes; see bin/xenfork
#              for where it applies)
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
    2>&1 | grep -v '\[warning\]\[cds\]' || true   # its CDS dump notes, harmlessly, that java.logging is left out
[ -x "$out/runtime/bin/java" ] || { echo "dist: jlink failed" >&2; exit 1; }
rm -f "$out/runtime/lib/server/classes_nocoops.jsa"   # used only by heaps over 32 GB
cp "$jar" "$out/lib/xenfork.jar"
install -m 755 dist/src/xenfork-launcher.sh "$out/bin/xenfork"
"$out/runtime/bin/java" -cp "$out/lib/xenfork.jar" org.xenfork.cli.ShellFiles "$out"
# The classes a training run loads (org.xenfork.cli.CdsTraining), then a static archive of them. Static, not a
# dynamic -XX:ArchiveClassesAtExit archive: JDK 17's dynamic archives leave out classes older than Java 6, and
# picocli's are (major version 49), so all of picocli would load from the jar.
"$out/runtime/bin/java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:off \
    -XX:DumpLoadedClassList="$out/lib/xenfork.classlist" -cp "$out/lib/xenfork.jar" org.xenfork.cli.CdsTraining
"$out/runtime/bin/java" -XX:+UseSerialGC -Xshare:dump -XX:SharedClassListFile="$out/lib/xenfork.classlist" \
    -XX:SharedArchiveFile="$out/lib/xenfork.jsa" -cp "$out/lib/xenfork.jar" 2>&1 | grep -Ev '\[warning\]\[cds\]|^Preload' || true
[ -f "$out/lib/xenfork.jsa" ] || { echo "dist: the CDS dump failed" >&2; exit 1; }
(cd "$out" && pwd) > "$out/lib/xenfork.jsa.root"
tar -C dist/target -czf "dist/target/$name.tar.gz" "$name"
size=$(stat -c %s "dist/target/$name.tar.gz")
echo "dist: dist/target/$name.tar.gz: $(awk -v s="$size" 'BEGIN{printf "%.1f", s/1048576}') MB (budget 60 MB); unpacked $(du -sm "$out" | cut -f1) MB"
[ "$size" -le $((60 * 1024 * 1024)) ] || { echo "dist: the tarball is over its 60 MB budget" >&2; exit 1; }
