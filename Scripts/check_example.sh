#!/usr/bin/env bash
# Builds and runs Examples/TrainAndExplore the way a user would: as its own package that depends on
# featuremaps by URL and version. The URL is a tagged clone of this repository's committed HEAD
# reached through file://, which SwiftPM resolves like any remote (so it refuses unsafe build flags
# as it would for a user). Checks that the loss went down and that the feature-map grid is a PNG
# that decodes and is not blank. Any failure stops the script with a non-zero status.
#
#     Scripts/check_example.sh            (CI runs it from .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
example=Examples/TrainAndExplore
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "error: example consumer: $*" >&2; exit 1; }

# The version to tag the clone with, so that it is the newest and `from:` picks HEAD: the tag HEAD
# already carries, else the newest version tag with its patch number raised, else the version the
# example requires (no tag yet).
required=$(sed -n 's/.*from: "\([0-9]*\.[0-9]*\.[0-9]*\)".*/\1/p' "$example/Package.swift")
[[ -n $required ]] || fail "no 'from: \"X.Y.Z\"' requirement found in $example/Package.swift"
git clone -q "$PWD" "$tmp/featuremaps"
version_tags() { git -C "$tmp/featuremaps" tag --list '[0-9]*.[0-9]*.[0-9]*' "$@" --sort=-v:refname; }
version=$(version_tags --points-at HEAD | head -n 1)
if [[ -z $version ]]; then
    newest=$(version_tags | head -n 1)
    if [[ -n $newest ]]; then
        IFS=. read -r major minor patch <<<"$newest"
        version="$major.$minor.$((patch + 1))"
    else
        version=$required
    fi
    git -C "$tmp/featuremaps" tag "$version"
fi
echo "featuremaps clone at $(git -C "$tmp/featuremaps" rev-parse --short HEAD), tagged $version; the example requires from: \"$required\""

# The example as a user copies it (from the same commit), built in its own folder: no shared
# .build, no Package.resolved from elsewhere.
cp -R "$tmp/featuremaps/$example" "$tmp/TrainAndExplore"
export FEATUREMAPS_PACKAGE_URL="file://$tmp/featuremaps"
cd "$tmp/TrainAndExplore"
swift build --disable-dependency-cache || fail "swift build failed (lines above); FEATUREMAPS_PACKAGE_URL=$FEATUREMAPS_PACKAGE_URL"
grep -q "\"version\" : \"$version\"" Package.resolved ||
    fail "Package.resolved does not pin featuremaps $version: $(tr -d '\n ' <Package.resolved)"

# No arguments: the photo bundled with the example, the grid to feature-maps.png.
"$(swift build --show-bin-path)/TrainAndExplore" 2>&1 | tee run.log ||
    fail "TrainAndExplore exited with an error (lines above)"
awk '/^step [0-9]+: loss / { loss = $4; if (first == "") first = loss } END {
    if (first == "" || !(loss + 0 < first + 0)) { print "the loss did not go down: first " first ", last " loss; exit 1 }
}' run.log >&2 || fail "training did not learn"
test -s feature-maps.png || fail "feature-maps.png was not written"
cd - >/dev/null
python3 - "$tmp/TrainAndExplore/feature-maps.png" <<'EOF' || fail "feature-maps.png is not a valid, non-blank PNG (line above)"
import sys
sys.path.insert(0, "Scripts")
from check_pages import decode_png  # the PNG decoder the page checker proves on its self-test

try:
    width, height, channels, rows = decode_png(open(sys.argv[1], "rb").read())
except Exception as error:  # ValueError, zlib.error, struct.error: any way of not being a PNG
    sys.exit(f"{sys.argv[1]}: {error}")
levels = set().union(*map(set, rows))
if len(levels) < 16:
    sys.exit(f"{sys.argv[1]}: {width}x{height} but only {len(levels)} distinct byte values")
print(f"feature-maps.png: {width}x{height}, {channels} channel(s), {len(levels)} distinct levels")
EOF
echo "example consumer built and ran in $(( $(date +%s) - start )) s"
