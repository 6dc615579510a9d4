#!/usr/bin/env bash
# Fails if the public Swift API of the package's library products has a breaking change since the
# last version, unless that change is listed in .api-breakage-allowlist and CHANGELOG.md has a
# '- **Breaking:**' entry for it (Docs/VERSIONING.md).
#
#     Scripts/check_api.sh               check this package (CI runs it from .ci/run)
#     Scripts/check_api.sh --self-test   prove the check on a two-commit throwaway package: a
#                                        removed public function must fail it, and pass once listed
#
# The baseline is the version in .api-baseline: a line "<tag> <commit>". The tag is used when this
# clone has it and it names that commit; a clone without tags (as CI's may be) uses the commit.
# SwiftPM's `diagnose-api-breaking-changes` builds the baseline in a checkout of its own (debug),
# and SwiftPM keeps its API files in .build/api-baselines/<commit>, so later runs only build HEAD.
set -euo pipefail
cd "$(dirname "$0")/.."
script="$PWD/Scripts/check_api.sh"
fail() { echo "error: API check: $*" >&2; exit 1; }

self_test() {
    # Runs the throwaway package's copy of this script: its exit status in $status, its output
    # in $output, shown indented.
    run_copy() {
        status=0
        output=$("$tmp/Scripts/check_api.sh" 2>&1) || status=$?
        echo "$output" | sed 's/^/    | /'
    }
    local tmp status output
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    mkdir -p "$tmp/Scripts" "$tmp/Sources/Lib"
    cp "$script" "$tmp/Scripts/check_api.sh"
    cat >"$tmp/Package.swift" <<'EOF'
// swift-tools-version: 6.1
import PackageDescription
let package = Package(name: "Lib", products: [.library(name: "Lib", targets: ["Lib"])],
                      targets: [.target(name: "Lib")])
EOF
    printf '/// Kept.\npublic func kept() {}\n/// Removed in the second commit.\npublic func removed() {}\n' >"$tmp/Sources/Lib/Lib.swift"
    printf '# Intended breaks\n' >"$tmp/.api-breakage-allowlist"
    printf '# Changelog\n\nBreaks are marked **Breaking:**.\n\n## [Unreleased]\n\n## [0.1.0]\n\n- **Breaking:** an old break.\n' >"$tmp/CHANGELOG.md"
    git -C "$tmp" init -q
    gitc() { git -C "$tmp" -c user.name=self-test -c user.email=self-test@localhost "$@"; }
    gitc add -A && gitc commit -qm "0.1.0" && gitc tag 0.1.0
    echo "0.1.0 $(git -C "$tmp" rev-parse HEAD)" >"$tmp/.api-baseline"
    printf '/// Kept.\npublic func kept() {}\n' >"$tmp/Sources/Lib/Lib.swift"
    gitc add -A && gitc commit -qm "remove removed()"

    echo "self-test 1: a removed public function must fail the check"
    run_copy
    (( status != 0 )) || fail "self-test: the check passed although removed() was removed"
    grep -q "func removed() has been removed" <<<"$output" ||
        fail "self-test: the failure does not name func removed()"

    echo "self-test 2: listed in the allowlist but with no CHANGELOG note since 0.1.0, it must still fail"
    echo "$output" | sed -n 's/.*\(API breakage: func removed() has been removed\).*/\1/p' | head -n 1 >>"$tmp/.api-breakage-allowlist"
    run_copy
    (( status != 0 )) && grep -q "no '- \*\*Breaking:\*\* ...' entry" <<<"$output" ||
        fail "self-test: an allowlisted break without a CHANGELOG note since 0.1.0 was not refused"

    echo "self-test 3: listed and noted, it must pass"
    printf '# Changelog\n\n## [Unreleased]\n\n- **Breaking:** removed() is gone.\n\n## [0.1.0]\n' >"$tmp/CHANGELOG.md"
    "$tmp/Scripts/check_api.sh" 2>&1 | sed 's/^/    | /' ||
        fail "self-test: the check failed although the break is listed and noted"

    echo "self-test 4: in a clone without the tag, the commit in .api-baseline is the baseline"
    git -C "$tmp" tag -d 0.1.0 >/dev/null
    output=$("$tmp/Scripts/check_api.sh" 2>&1) || fail "self-test: the check failed without the tag: $output"
    grep -q "against commit $(git -C "$tmp" rev-parse HEAD~1)" <<<"$output" ||
        fail "self-test: without the tag, the baseline was not the recorded commit: $output"

    echo "self-test 5: a tag that names another commit than .api-baseline stops the check"
    git -C "$tmp" tag 0.1.0 HEAD
    run_copy
    (( status != 0 )) && grep -q "but .api-baseline records" <<<"$output" ||
        fail "self-test: a tag on another commit than .api-baseline's was not reported"
    echo "self-test passed"
}

if [[ ${1:-} == --self-test ]]; then
    self_test
    exit 0
fi
(( $# == 0 )) || fail "usage: Scripts/check_api.sh [--self-test]"

start=$(date +%s)
read -r tag commit _ < <(grep -v '^[[:space:]]*#' .api-baseline | grep . | head -n 1) ||
    fail ".api-baseline has no '<tag> <commit>' line"
[[ -n ${commit:-} ]] || fail ".api-baseline: '$tag' has no commit after it"
if tagged=$(git rev-parse -q --verify "refs/tags/$tag^{commit}"); then
    [[ $tagged == "$commit"* ]] ||
        fail "tag $tag is commit $tagged, but .api-baseline records $commit: correct one of them"
    baseline=$tag
    described="$tag (${tagged:0:10})"
elif git cat-file -e "$commit^{commit}" 2>/dev/null; then
    baseline=$(git rev-parse "$commit^{commit}")
    described="commit $baseline ($tag: no such tag here)"
else
    fail "neither tag $tag nor commit $commit (.api-baseline) is in this clone; fetch them (git fetch --tags, or an unshallow clone)"
fi

# The library products of the package, from its manifest.
mapfile -t products < <(swift package dump-package | python3 -c '
import json, sys
for product in json.load(sys.stdin)["products"]:
    if "library" in product["type"]:
        print(product["name"])')
(( ${#products[@]} )) || fail "the package has no library products"

# The allowlist without its comment and blank lines: SwiftPM matches whole lines.
allowlist=$(mktemp)
trap 'rm -f "$allowlist"' EXIT
if [[ -f .api-breakage-allowlist ]]; then
    grep -v '^[[:space:]]*\(#\|$\)' .api-breakage-allowlist >"$allowlist" || true
fi
if [[ -s $allowlist ]]; then
    # An intended break is one the changelog tells users about: a note above the baseline's own
    # section, so under [Unreleased] or, on a release commit, under the version being released.
    awk -v heading="## [$tag]" 'index($0, heading) == 1 { exit } /^[-*] \*\*Breaking:\*\*/ { found = 1 } END { exit !found }' CHANGELOG.md ||
        fail ".api-breakage-allowlist lists $(wc -l <"$allowlist") break(s), but CHANGELOG.md has no '- **Breaking:** ...' entry above '## [$tag]'"
fi

echo "API of ${products[*]} against $described"
# SwiftPM 6.3's diagnose-api-breaking-changes has died of SIGSEGV inside swift-package itself
# (once in CI, 2026-11-30; the same clone then passed three times here): a crash is the tool's,
# not an API verdict, so it is retried (at most 3 attempts, each one said). A break exits with
# status 1 and is never retried.
attempts=3
for (( attempt = 1; ; attempt++ )); do
    status=0
    swift package diagnose-api-breaking-changes "$baseline" --products "${products[@]}" \
        --baseline-dir .build/api-baselines --breakage-allowlist-path "$allowlist" || status=$?
    (( status > 128 && attempt < attempts )) || break
    echo "warning: API check: swift package died of signal $(( status - 128 )) (attempt $attempt of $attempts); running it again" >&2
done
if (( status > 128 )); then
    fail "swift package diagnose-api-breaking-changes died of signal $(( status - 128 )) in all $attempts attempts: no verdict on the API"
fi
if (( status != 0 )); then
    echo "error: the public API has changed incompatibly since $described (lines above; exit status $status)." >&2
    echo "If the break is intended, add each 'API breakage: ...' line, as printed, to .api-breakage-allowlist and" >&2
    echo "describe it in CHANGELOG.md under '## [Unreleased]' as '- **Breaking:** ...' (Docs/VERSIONING.md)." >&2
    exit 1
fi
echo "no unlisted API break since $described ($(( $(date +%s) - start )) s)"
