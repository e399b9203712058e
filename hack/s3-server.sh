#!/usr/bin/env bash
# Builds the pinned S3 server the integration tests start on loopback (versitygw, posix backend)
# from the Go module proxy into an ignored cache directory, and prints the binary's path. A second
# run with the binary present does nothing.
#
# Environment: KAPTAIN_CACHE (default .cache under the repository), VERSITYGW_VERSION.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
version=${VERSITYGW_VERSION:-v1.8.0}
bin=$cache/s3/versitygw-$version

if [ ! -x "$bin" ]; then
  printf 's3-server: building versitygw %s (a few minutes, once)\n' "$version" >&2
  work=$cache/s3/build-$version
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && printf 'module kaptain.local/s3\n\ngo 1.26\n' >go.mod &&
    GOFLAGS=-mod=mod go get "github.com/versity/versitygw@$version" >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" github.com/versity/versitygw/cmd/versitygw)
  mv "$bin.tmp" "$bin"
  rm -rf "$work"
fi
echo "$bin"
