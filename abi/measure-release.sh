#!/usr/bin/env bash
# Step 3 of docs/ABI.md "Adding a release": measure a release's headers with gcc.
#   abi/measure-release.sh --headers <xen tree>/xen/include/public --release X.Y [--template X.Y] [--add S1,S2] [--out DIR]
# --out defaults to test-fixtures' abi-data folder, where the files belong. Needs gcc and Maven; builds
# test-fixtures and abi in the reactor (nothing is installed) and runs org.xenfork.abi.MeasureRelease
# from abi's test classes (profile "measure" of abi/pom.xml). Paths are taken from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
case " $* " in
  *" --out "*) ;;
  *) args+=(--out test-fixtures/src/main/resources/org/xenfork/testfixtures/abi-data) ;;
esac
for a in "${args[@]}"; do
  case "$a" in *" "*) echo "measure-release.sh: no spaces in arguments, please: '$a'" >&2; exit 2 ;; esac
done
exec mvn -B -q ${MAVEN_OFFLINE--o} -pl test-fixtures,abi -Pmeasure test-compile -Dmeasure.args="${args[*]}"
