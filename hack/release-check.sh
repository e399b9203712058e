#!/usr/bin/env bash
# Checks the release: GoReleaser's config, a snapshot release of every platform, the
# linux/amd64 archive (LICENSE, the man pages and the README's guides inside, the binary runs), the Krew manifest (Krew's own
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
# Listed to a file, not piped into grep -q: grep stops at the first match, and tar's next
# write would then die of SIGPIPE, which pipefail turns into a failure.
tar -tzf "$archive" >"$tmp/list"
grep -qx LICENSE "$tmp/list" || { say "$archive has no LICENSE"; exit 1; }
grep -qx man/man1/kubectl-kaptain-train.1 "$tmp/list" || { say "$archive has no man pages (man/man1)"; exit 1; }
# The README's links: the guides and the command reference, at the paths it names.
for doc in CONTRIBUTING.md docs/training.md docs/architecture.md docs/reference/kubectl_kaptain_train.md; do
  grep -qx "$doc" "$tmp/list" || { say "$archive has no $doc, which the README links to"; exit 1; }
done
mkdir -p "$tmp/unpacked" && tar -xzf "$archive" -C "$tmp/unpacked"
"$tmp/unpacked/kubectl-kaptain" version | tee "$tmp/version" >&2
grep -q '^kubectl-kaptain v' "$tmp/version" || { say "the archived binary does not print its version"; exit 1; }

generated=dist/krew/kaptain.yaml
mkdir -p "$tmp/generated" "$tmp/checked-in"
cp "$generated" "$tmp/generated/kaptain.yaml"
cp plugins/krew.yaml "$tmp/checked-in/kaptain.yaml"
# Structure, platforms, selectors; the validator's own install step downloads the release
# URIs, so the installs are done below from the local archives instead.
"$validate" --skip-install --manifest "$tmp/generated/kaptain.yaml"
"$validate" --skip-install --manifest "$tmp/checked-in/kaptain.yaml"
# In step: the same manifest but for what changes with each release.
strip() { grep -v -E '^\s*(version:|uri:|sha256:)' "$1" | sort; }
if ! diff <(strip "$generated") <(strip plugins/krew.yaml); then
  say "plugins/krew.yaml is not in step with .goreleaser.yaml: run 'make krew-manifest' and review"
  exit 1
fi

# Install every platform from its archive, as Krew would on that platform; each must
# carry its LICENSE.
for os_arch in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
  os=${os_arch%/*} arch=${os_arch#*/}
  ext=tar.gz
  [ "$os" = windows ] && ext=zip
  root="$tmp/krew-$os-$arch"
  KREW_ROOT=$root KREW_OS=$os KREW_ARCH=$arch "$krew" install --manifest="$generated" \
    --archive="dist/kubectl-kaptain_${os}_${arch}.$ext" >"$tmp/krew.log" 2>&1 || { cat "$tmp/krew.log" >&2; exit 1; }
  [ -n "$(find "$root/store/kaptain" -name LICENSE)" ] || { say "$os/$arch: no LICENSE installed"; exit 1; }
done
say "krew installed all 6 platforms from their archives"

# On this machine: kubectl finds the plugin Krew installed.
root="$tmp/krew-linux-amd64"
PATH="$root/bin:$PATH" kubectl-kaptain version >&2
if command -v kubectl >/dev/null; then
  PATH="$root/bin:$PATH" kubectl kaptain version >&2
fi
say "ok"
