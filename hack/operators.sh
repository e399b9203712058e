#!/usr/bin/env bash
# Builds what the e2e tier runs beside the control plane, pinned, from the Go module proxy into
# the ignored cache, skipping what is there, and prints the bin directory: kwok (simulated nodes
# and pods), the Kubeflow Training Operator and the KServe controller manager. Their manifests
# (CRDs, webhook, runtimes, configmap, kwok stages) are read from the module cache at run time.
#
# Environment: KAPTAIN_CACHE (default .cache under the repository), KWOK_VERSION,
# TRAINING_OPERATOR_VERSION, KSERVE_VERSION.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
kwok_version=${KWOK_VERSION:-v0.8.0}
training_version=${TRAINING_OPERATOR_VERSION:-v1.8.1}
kserve_version=${KSERVE_VERSION:-v0.15.2}
bin=$cache/operators/kwok-$kwok_version-training-$training_version-kserve-$kserve_version/bin
mkdir -p "$bin"

log() { printf 'operators: %s\n' "$*" >&2; }

# install NAME MODULE VERSION PACKAGE: builds PACKAGE of MODULE@VERSION into bin as NAME, in a
# module of its own that requires it (go install pkg@version would list the module's versions,
# which the proxy refuses for some modules).
install() {
  local name=$1 module=$2 version=$3 pkg=$4
  [ -x "$bin/$name" ] && return
  log "building $name from $module@$version (a few minutes, once)"
  local work=$cache/operators/build-$name
  rm -rf "$work" && mkdir -p "$work"
  printf 'module kaptain.local/%s\n\ngo 1.26\n\nrequire %s %s\n' "$name" "$module" "$version" >"$work/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$work/tools.go"
  (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
  (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin/$name" "$pkg")
  rm -rf "$work"
}

install kwok sigs.k8s.io/kwok "$kwok_version" sigs.k8s.io/kwok/cmd/kwok
install training-operator github.com/kubeflow/training-operator "$training_version" github.com/kubeflow/training-operator/cmd/training-operator.v1
install kserve-manager github.com/kserve/kserve "$kserve_version" github.com/kserve/kserve/cmd/manager
echo "$bin"
