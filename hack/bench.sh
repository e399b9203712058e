#!/usr/bin/env bash
# Start-up and render benchmarks against kubectl, measured in the same run, alternating the
# two commands so that drift in the machine's speed hits both. Prints medians and the ratio.
#
#   hack/bench.sh [RUNS]     (default 30; needs bin/kubectl-kaptain and kubectl on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
bin=$PWD/bin/kubectl-kaptain
[ -x "$bin" ] || { echo "bench: build first (make build)" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "bench: kubectl is not on PATH" >&2; exit 1; }

# A kubeconfig that cannot be reached: what is timed must not need the network.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/config" <<'YAML'
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
YAML
export KUBECONFIG=$tmp/config HOME=$tmp

# ms COMMAND...: wall milliseconds of one run, output discarded.
ms() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1 || true
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# pair NAME "A..." "B...": alternate A and B, one warm-up each, then RUNS each.
pair() {
  local name=$1 a=$2 b=$3
  : >"$tmp/a"; : >"$tmp/b"
  ms $a >/dev/null; ms $b >/dev/null
  for _ in $(seq "$runs"); do
    ms $a >>"$tmp/a"
    ms $b >>"$tmp/b"
  done
  local ma mb
  ma=$(median <"$tmp/a"); mb=$(median <"$tmp/b")
  awk -v n="$name" -v a="$ma" -v b="$mb" -v r="$runs" 'BEGIN {
    printf "%s\n    kaptain %.2f ms, peer %.2f ms, ratio %.2f (median wall time of %d runs each)\n", n, a/1000, b/1000, a/b, r }'
}

pair "version vs kubectl version --client" "$bin version" "kubectl version --client"
pair "train --dry-run=client -o yaml vs kubectl create job --dry-run=client -o yaml" \
  "$bin train -f examples/mnist-tensorflow/kaptain.yaml --dry-run=client -o yaml" \
  "kubectl create job bench --image=busybox --dry-run=client -o yaml"
