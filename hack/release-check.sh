#!/usr/bin/env bash
# Checks the release: GoReleaser's config, a snapshot release of every platform, the
# linux/amd64 archive (LICENSE inside, the binary runs), the Krew manifest (Krew's own
# validator on the generated one and on plugins/krew.yaml, the two in step) and an install
# with krew from the archive, then kubectl finding the installed plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
goreleaser=$(hack/tools.sh goreleaser)
validate=$(hack/tools.sh validate-krew-manifest)
krew=$(hack/tools.sh krew)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say() { printf 'release-check: %s\n' "$*" >&2; }

"$goreleaser" check
"$goreleaser" release --snapshot --clean --parallelism 2 >"$tmp/goreleaser.log" 2>&1 || { cat "$tmp/goreleaser.log" >&2; exit 1; }
say "snapshot release built: $(ls dist/*.tar.gz dist/*.zip | wc -l) archives"

archive=dist/kubectl-kaptain_linux_amd64.tar.gz
tar -tzf "$archive" | grep -qx LICENSE || { say "$archive has no LICENSE"; exit 1; }
mkdir -p "$tmp/unpacked" && tar -xzf "$archive" -C "$tmp/unpacked"
"$tmp/unpacked/kubectl-kaptain" version | tee "$tmp/version" >&2
grep -q '^kubectl-kaptain v' "$tmp/version" || { say "the archived binary does not print its version"; exit 1; }

generated=dist/krew/kaptain.yaml
mkdir -p "$tmp/generated" "$tmp/checked-in"
cp "$generated" "$tmp/generated/kaptain.yaml"
cp plugins/krew.yaml "$tmp/checked-in/kaptain.yaml"
"$validate" --manifest "$tmp/generated/kaptain.yaml"
"$validate" --manifest "$tmp/checked-in/kaptain.yaml"
# In step: the same manifest but for what changes with each release.
strip() { grep -v -E '^\s*(version:|uri:|sha256:)' "$1"; }
if ! diff <(strip "$generated") <(strip plugins/krew.yaml); then
  say "plugins/krew.yaml is not in step with .goreleaser.yaml: run 'make krew-manifest' and review"
  exit 1
fi

export KREW_ROOT="$tmp/krew"
"$krew" install --manifest="$generated" --archive="$archive" >&2
PATH="$KREW_ROOT/bin:$PATH" kubectl kaptain version >&2 || PATH="$KREW_ROOT/bin:$PATH" "$KREW_ROOT/bin/kubectl-kaptain" version >&2
say "ok"
