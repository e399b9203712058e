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

# install NAME PACKAGE@VERSION: go install into bin, renamed to NAME.
install() {
  local name=$1 pkg=$2
  [ -x "$bin/$name" ] && return
  log "building $name from $pkg (a few minutes, once)"
  local tmp=$bin/.install-$name
  rm -rf "$tmp" && mkdir -p "$tmp"
  GOBIN=$tmp CGO_ENABLED=0 GOFLAGS=-trimpath go install "$pkg"
  mv "$tmp"/* "$bin/$name"
  rm -rf "$tmp"
}

install kwok "sigs.k8s.io/kwok/cmd/kwok@$kwok_version"
install training-operator "github.com/kubeflow/training-operator/cmd/training-operator.v1@$training_version"
install kserve-manager "github.com/kserve/kserve/cmd/manager@$kserve_version"
echo "$bin"
