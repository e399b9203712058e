#!/usr/bin/env bash
# Builds go-containerregistry's crane, at the version go.mod pins, into the ignored cache and
# prints its path: the peer of the build benchmark.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
version=$(cd "$root" && go list -m -f '{{.Version}}' github.com/google/go-containerregistry)
bin=$cache/tools/crane-$version
if [ ! -x "$bin" ]; then
  printf 'crane: building crane %s (once)\n' "$version" >&2
  work=$cache/tools/build-crane-$version
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && printf 'module kaptain.local/crane\n\ngo 1.26\n' >go.mod &&
    GOFLAGS=-mod=mod go get "github.com/google/go-containerregistry/cmd/crane@$version" >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin" github.com/google/go-containerregistry/cmd/crane)
  rm -rf "$work"
fi
echo "$bin"
