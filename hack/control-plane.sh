#!/usr/bin/env bash
# Builds pinned kube-apiserver and etcd from the Go module proxy into an ignored cache
# directory, and prints the directory. A second run with the binaries present does nothing.
# Further Kubernetes components named as arguments (kube-scheduler, kube-controller-manager,
# kubectl for the tests that pipe into it)
# are built into the same directory, from the same module.
#
#   hack/control-plane.sh                                   # apiserver and etcd
#   hack/control-plane.sh kube-scheduler kube-controller-manager
#
# Environment: KAPTAIN_CACHE (default .cache under the repository), KUBE_VERSION, ETCD_VERSION.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
kube_version=${KUBE_VERSION:-v1.37.2}
etcd_version=${ETCD_VERSION:-v3.6.16}
# The binaries carry their version (kube-apiserver's /version says it: Kueue refuses to start
# on an API server whose version does not parse).
bin=$cache/control-plane/$kube_version-$etcd_version-stamped/bin
mkdir -p "$bin"

log() { printf 'control-plane: %s\n' "$*" >&2; }

# build_kube NAME...: builds k8s.io/kubernetes/cmd/NAME for each NAME.
build_kube() {
  local work=$cache/control-plane/build-kube-$kube_version
  rm -rf "$work" && mkdir -p "$work"
  local staging="v0${kube_version#v1}"
  local gomod
  gomod=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$kube_version" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
  {
    printf 'module kaptain.local/apiserver\n\ngo 1.26\n\nrequire k8s.io/kubernetes %s\n\n' "$kube_version"
    # k8s.io/kubernetes replaces its staging modules with local paths; pin them to their
    # published versions instead.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#replace \1 => \1 '"$staging"'#p' "$gomod"
  } >"$work/go.mod"
  {
    printf '//go:build tools\n\npackage main\n\nimport (\n'
    for name in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$name"; done
    printf ')\n'
  } >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
  local minor=${kube_version#v1.}
  minor=${minor%%.*}
  local pkg=k8s.io/component-base/version
  local ldflags="-X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  for name in "$@"; do
    (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin/$name" "k8s.io/kubernetes/cmd/$name")
  done
}

build_etcd() {
  local work=$cache/control-plane/build-etcd-$etcd_version
  rm -rf "$work" && mkdir -p "$work"
  printf 'module kaptain.local/etcd\n\ngo 1.26\n' >"$work/go.mod"
  cat >"$work/main.go" <<'GO'
// Command etcd runs etcd's server entry point.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work" && GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$etcd_version" >/dev/null 2>&1 && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1)
  (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin/etcd" .)
}

if [ ! -x "$bin/etcd" ]; then
  log "building etcd $etcd_version (about a minute, once)"
  build_etcd
fi
missing=()
for name in kube-apiserver "$@"; do
  [ -x "$bin/$name" ] || missing+=("$name")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "building ${missing[*]} $kube_version (a few minutes, once)"
  build_kube "${missing[@]}"
fi
echo "$bin"
