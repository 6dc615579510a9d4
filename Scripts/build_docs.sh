#!/usr/bin/env bash
# Builds the DocC documentation of every library product of Package.swift (the catalogs are
# Sources/<Library>/<Library>.docc) with the swift-docc-plugin, warnings treated as errors: an
# unresolved symbol link or a malformed topic fails the build. A compiler warning while the
# symbol graphs are made fails it too. Extra arguments go to the plugin (and through it to docc),
# for example --experimental-documentation-coverage --coverage-summary-level detailed.
# The archives are written to .build/plugins/Swift-DocC/outputs/<Library>.doccarchive.
set -euo pipefail
cd "$(dirname "$0")/.."

# The library products, read from the manifest so that a new library is documented without
# editing this script.
libraries=$(swift package dump-package | python3 -c '
import json, sys
for product in json.load(sys.stdin)["products"]:
    if "library" in product["type"]:
        print(*product["targets"], sep="\n")
' | awk '!seen[$0]++')
targets=()
for library in $libraries; do
    test -d "Sources/$library/$library.docc" || { echo "error: the library $library has no catalog Sources/$library/$library.docc" >&2; exit 1; }
    targets+=(--target "$library")
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
swift package --disable-sandbox generate-documentation "${targets[@]}" --warnings-as-errors "$@" 2>&1 | tee "$log" || status=$?
if (( status != 0 )); then
    echo "error: the documentation build failed (exit status $status; messages above)" >&2
    exit "$status"
fi
# SwiftPM's hint for the MPI trait's system library (CMPI, pkg-config "mpi") on a machine
# without an MPI library is not a documentation warning: the trait is off here, and the plugin
# still looks the library up. Every other warning fails the build.
mpi_hint='warning: you may be able to install mpi using your system-packager'
if grep 'warning:' "$log" | grep -v -F "$mpi_hint" | grep -q .; then
    echo "error: the documentation build printed warnings:" >&2
    grep 'warning:' "$log" | grep -v -F "$mpi_hint" >&2
    exit 1
fi
echo "documentation built for: $(echo $libraries)"
