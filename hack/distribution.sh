#!/usr/bin/env bash
# Builds CNCF distribution's registry (v3, from the Go module proxy, with this machine's Go)
# into the ignored cache and prints its path: the registry the build benchmark pushes to.
# Debian's docker-registry (2.8, built with Go 1.19, before Go's sha256 used the CPU's SHA
# instructions) spends about 5.5 s of CPU taking in 1 GiB, more than the client it measures.
#
# Environment: KAPTAIN_CACHE (default .cache under the repository), DISTRIBUTION_VERSION.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
version=${DISTRIBUTION_VERSION:-v3.1.2}
bin=$cache/tools/registry-$version
if [ ! -x "$bin" ]; then
  printf 'distribution: building the registry %s (about a minute, once)\n' "$version" >&2
  work=$cache/tools/build-registry-$version
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && printf 'module kaptain.local/registry\n\ngo 1.26\n' >go.mod &&
    GOFLAGS=-mod=mod go get "github.com/distribution/distribution/v3/cmd/registry@$version" >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" github.com/distribution/distribution/v3/cmd/registry)
  mv "$bin.tmp" "$bin"
  rm -rf "$work"
fi
echo "$bin"
