#!/usr/bin/env bash
# Builds tools from the Go module proxy into hack/tools/bin (ignored), once: GoReleaser
# (release archives), Krew's manifest validator and krew itself (plugin index), and CNCF
# distribution's registry v3 (the build benchmark's registry: Debian's docker-registry 2.8 is
# built with Go 1.19, before Go's sha256 used the CPU's SHA instructions, and spends about
# 5.5 s of CPU taking in 1 GiB, more than the client it measures), and golangci-lint v2 (make
# lint's linters, .golangci.yml).
#
#   hack/tools.sh goreleaser|validate-krew-manifest|krew|registry|golangci-lint   # prints the binary's path
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/hack/tools/bin
mkdir -p "$bin"
goreleaser_version=${GORELEASER_VERSION:-v2.15.1}
krew_version=${KREW_VERSION:-v0.4.4}
distribution_version=${DISTRIBUTION_VERSION:-v3.1.2}
golangci_lint_version=${GOLANGCI_LINT_VERSION:-v2.15.0}

build() { # name module-path package version
  local name=$1 module=$2 pkg=$3 version=$4 out=$bin/$1-$4
  if [ ! -x "$out" ]; then
    echo "tools: building $name $version (once)" >&2
    local work
    work=$(mktemp -d)
    (cd "$work" && printf 'module kaptain.local/tools\n\ngo 1.26\n' >go.mod &&
      GOFLAGS=-mod=mod go get "$module@$version" >/dev/null 2>&1 &&
      GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$out" "$pkg")
    rm -rf "$work"
  fi
  echo "$out"
}

case "${1:-}" in
goreleaser) build goreleaser github.com/goreleaser/goreleaser/v2 github.com/goreleaser/goreleaser/v2 "$goreleaser_version" ;;
validate-krew-manifest) build validate-krew-manifest sigs.k8s.io/krew sigs.k8s.io/krew/cmd/validate-krew-manifest "$krew_version" ;;
krew) build krew sigs.k8s.io/krew sigs.k8s.io/krew/cmd/krew "$krew_version" ;;
registry) build registry github.com/distribution/distribution/v3 github.com/distribution/distribution/v3/cmd/registry "$distribution_version" ;;
golangci-lint) build golangci-lint github.com/golangci/golangci-lint/v2 github.com/golangci/golangci-lint/v2/cmd/golangci-lint "$golangci_lint_version" ;;
*) echo "usage: hack/tools.sh goreleaser|validate-krew-manifest|krew|registry|golangci-lint" >&2; exit 2 ;;
esac
