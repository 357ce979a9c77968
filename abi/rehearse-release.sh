#!/usr/bin/env bash
# docs/ABI.md "Adding a release", rehearsed: does a release added by the documented steps alone run in
# every release-parameterized test?
#   abi/rehearse-release.sh
# In a scratch copy of the repository (a temporary folder, removed at exit; the work tree is not touched), it
# runs every test class that takes its releases from org.xenfork.abi.Releases (a @MethodSource naming
# "org.xenfork.abi.Releases#..."), adds a synthetic next release X.(Y+1) by the steps and nothing else, runs the
# same classes again, prints each class's case count before and after, and fails unless every class ran more
# passing cases (a failing case fails the run). The synthetic release is the newest one under a new name: step 1 copies
# xen-X.Y.abi with the version changed, step 2 adds it to XenRelease.SUPPORTED, and step 3 (gcc against the
# new tag's headers, which a synthetic release has none of) is stood in for by copying the newest release's
# layouts-X.Y.jsonl and golden-X.Y.jsonl with the version changed.
# Needs Maven with the build's dependencies in ~/.m2 (offline by default; MAVEN_OFFLINE= runs online), and the
# repository's files: a git work tree (what git would commit from it, local changes included) or, without
# git (CI's copy), the folder as it is, less target/.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

scratch=$(mktemp -d "${TMPDIR:-/tmp}/xenfork-rehearse.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
copy=$scratch/xenfork
mkdir "$copy"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard -z \
        | while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf - | tar -xf - -C "$copy"
else
    tar --exclude=./.git --exclude='./*/target' --exclude=./target -cf - . | tar -xf - -C "$copy"
fi
cd "$copy"

releases=abi/src/main/resources/org/xenfork/abi/releases
data=test-fixtures/src/main/resources/org/xenfork/testfixtures/abi-data
supported=abi/src/main/java/org/xenfork/abi/XenRelease.java

newest=$(find "$releases" -name 'xen-*.abi' -printf '%f\n' | sed 's/^xen-\(.*\)\.abi$/\1/' | sort -V | tail -n 1)
major=${newest%%.*}
minor=${newest#*.}
next=$major.$((minor + 1))
[ ! -e "$releases/xen-$next.abi" ] || { echo "rehearse-release: xen-$next.abi exists already" >&2; exit 1; }

# The test classes to watch: every one with a @MethodSource on org.xenfork.abi.Releases (ReleasesTest holds every
# release-parameterized test to that), by module.
mapfile -t sources < <(grep -rlE --include='*.java' '^\s*@MethodSource\("org\.xenfork\.abi\.Releases#' -- */src/test/java | sort)
((${#sources[@]})) || { echo "rehearse-release: no test class takes org.xenfork.abi.Releases" >&2; exit 1; }
classes=() modules=()
for f in "${sources[@]}"; do
    classes+=("$(sed 's|^[^/]*/src/test/java/||; s|\.java$||; s|/|.|g' <<<"$f")")
    modules+=("${f%%/*}")
done
module_list=$(printf '%s\n' "${modules[@]}" | sort -u | paste -sd, -)
class_list=$(printf '%s\n' "${classes[@]##*.}" | paste -sd, -)

run_tests() { # $1: what the run is, for the log
    echo "rehearse-release: $1: ${#classes[@]} classes in $module_list"
    find . -path '*/target/surefire-reports' -type d -prune -exec rm -rf {} +
    # -o (offline) as abi/measure-release.sh; a skipped case does not count as run (passed, below)
    mvn -B -q ${MAVEN_OFFLINE--o} -pl "$module_list" -am test -Dtest="$class_list" \
        -Dsurefire.failIfNoSpecifiedTests=false >"$scratch/mvn-$2.log" 2>&1 \
        || { tail -n 60 "$scratch/mvn-$2.log" >&2; echo "rehearse-release: the $1 run failed (above)" >&2; exit 1; }
}
attr() { # $1 module, $2 class, $3 attribute of the report's <testsuite>: its number, or "-" without a report
    local xml=$1/target/surefire-reports/TEST-$2.xml
    [ -f "$xml" ] || { echo -; return; }
    grep -m 1 -o '<testsuite [^>]*>' "$xml" | sed -n "s/.* $3=\"\([0-9]*\)\".*/\1/p"
}
passed() { # $1 module, $2 class: the cases that ran and passed (a failure fails the Maven run before this)
    local tests skipped
    tests=$(attr "$1" "$2" tests) skipped=$(attr "$1" "$2" skipped)
    if [ "$tests" = - ]; then echo -; else echo $((tests - skipped)); fi
}

run_tests "before: Xen $newest is the newest" before
declare -A before
for i in "${!classes[@]}"; do before[${classes[$i]}]=$(passed "${modules[$i]}" "${classes[$i]}"); done

# Step 1: the newest declaration under the new name, the version changed where it names itself.
sed "s/\b$major\.$minor\b/$next/g" "$releases/xen-$newest.abi" >"$releases/xen-$next.abi"
# Step 2: the release in XenRelease.SUPPORTED, after the newest.
sed -i "s/new XenRelease($major, $minor));/new XenRelease($major, $minor), new XenRelease($major, $((minor + 1))));/" \
    "$supported"
grep -qF "new XenRelease($major, $((minor + 1)))" "$supported" \
    || { echo "rehearse-release: could not add $next to XenRelease.SUPPORTED in $supported" >&2; exit 1; }
# Step 3, stood in for: the newest release's measured files, their "version" changed.
for kind in layouts golden; do
    sed "s/\"version\":\"$newest\"/\"version\":\"$next\"/g" "$data/$kind-$newest.jsonl" >"$data/$kind-$next.jsonl"
done

run_tests "after: Xen $next added by the documented steps" after

printf '\n%-52s %7s %7s %7s\n' "class" "$newest" "+$next" "more"
bad=0 total_before=0 total_after=0
for i in "${!classes[@]}"; do
    c=${classes[$i]} m=${modules[$i]}
    b=${before[$c]} a=$(passed "$m" "$c")
    note=""
    if [ "$b" = - ] || [ "$a" = - ]; then
        note="  NO REPORT"; bad=1
    else
        total_before=$((total_before + b)) total_after=$((total_after + a))
        if ((a <= b)); then note="  DID NOT GROW"; bad=1; fi
    fi
    printf '%-52s %7s %7s %7s%s\n' "$m/${c##*.}" "$b" "$a" "$( [ "$b" = - ] || [ "$a" = - ] && echo - || echo $((a - b)))" "$note"
done
printf '%-52s %7s %7s %7s\n' "all ${#classes[@]} classes" "$total_before" "$total_after" "$((total_after - total_before))"
echo "rehearse-release: $((SECONDS - start)) s in all"
if ((bad)); then
    echo "rehearse-release: a release added by docs/ABI.md's steps does not run in every class above" >&2
    exit 1
fi
echo "rehearse-release: Xen $next, added by the documented steps alone, ran in every release-parameterized class"
