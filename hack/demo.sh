#!/usr/bin/env bash
# The main job: the example TensorFlow model from source to a served endpoint, and the PyTorch
# example trained as a Kubeflow Trainer v2 TrainJob, printed as a user would see it. Without
# KUBECONFIG in the environment it starts a local Kubeflow first (kube-apiserver, etcd,
# controller manager, scheduler, kwok nodes, the real Kubeflow Training Operator, Trainer v2 with
# JobSet, and the KServe controller: test/localcluster) and an OCI registry on loopback
# (Debian's docker-registry), and stops both at the end.
#
#   hack/demo.sh [PATH-TO-kubectl-kaptain]     (make demo builds it first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "${1:-$root/bin/kubectl-kaptain}")" && pwd)/$(basename "${1:-kubectl-kaptain}")
work=$(mktemp -d)
pids=()
cleanup() {
  if [ -f "$work/cluster/pid" ]; then "$work/local-cluster" down --dir "$work/cluster" || true; fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n# %s\n' "$*"; }
# k ARGS...: show and run 'kubectl kaptain ARGS' (through kubectl when it is installed).
k() {
  printf '$ kubectl kaptain %s\n' "$*"
  if command -v kubectl >/dev/null 2>&1; then
    HOME=$work PATH=$(dirname "$bin"):$PATH kubectl kaptain "$@" 2>&1
  else
    HOME=$work "$bin" "$@" 2>&1
  fi
}
# free_port: a loopback port nothing listens on (bash only: a fresh machine has no python).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

if [ -z "${KUBECONFIG:-}" ]; then
  say "starting a local Kubeflow: control plane, kwok nodes, Training Operator, Trainer v2 and JobSet, KServe, Katib (logs in $work/cluster)"
  cp=$("$root/hack/control-plane.sh" kube-scheduler kube-controller-manager kubectl)
  ops=$("$root/hack/operators.sh")
  pg=$("$root/hack/postgres.sh")
  (cd "$root" && go build -o "$work/local-cluster" ./test/localcluster/cmd/local-cluster)
  "$work/local-cluster" up --dir "$work/cluster" --control-plane "$cp" --operators "$ops" \
    --postgres "$pg" 2>"$work/local-cluster.log" &
  pids+=($!)
  for _ in $(seq 600); do [ -f "$work/cluster/ready" ] && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.5; done
  [ -f "$work/cluster/ready" ] || { cat "$work/local-cluster.log" >&2; echo "demo: the local cluster did not start" >&2; exit 1; }
  export KUBECONFIG=$work/cluster/kubeconfig
  cat "$work/local-cluster.log"
fi

say "an OCI registry on loopback"
port=$(free_port)
registry=$("$root/hack/registry-server.sh")
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YAML
"$registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# The example, with its image in the loopback registry (plain HTTP, no flag needed). Its requirements need pip inside the
# image (the cluster builder, which needs a real node); the demo builds the code on an empty
# base with the local builder instead.
model=$work/mnist-tensorflow
cp -r "$root/examples/mnist-tensorflow" "$model"
sed -i -e "s#image: .*#image: 127.0.0.1:$port/kaptain/mnist-tensorflow:0.0.1#" \
  -e 's#baseImage: .*#baseImage: scratch#' -e '/requirements:/d' "$model/kaptain.yaml"
cd "$model"
# The plugin's home: no Docker config (the registry takes anonymous pushes), S3 credentials
# for the workloads' storage Secrets.
export AWS_ACCESS_KEY_ID=demo-access AWS_SECRET_ACCESS_KEY=demo-secret-key

say "build the image: no Docker; a rebuild of unchanged code pushes nothing"
k build
k build

say "train it: a TFJob through the real Training Operator, running the pushed digest"
k train --build -p epochs=2 --workers 2 --cpu 500m --memory 1Gi

say "what it made, and what its workers printed (served by the simulated kubelet)"
k get jobs
job=$(HOME=$work "$bin" get jobs -o name)
job=${job%%$'\n'*}
k logs "${job#*/}" --tail 3
k model history

say "tune it with Katib v0.19 (controller, webhooks, db-manager on PostgreSQL; goptuna's random search and the metrics collector played on loopback): Katib serves only namespaces labelled for it, so tune stops first, with the fix"
k tune --param lr=double:0.001:0.1 --param layers=int:1:5 --objective accuracy --trials 4 || true
kubectl=$(command -v kubectl || echo "${cp:-}/kubectl")
ns=$("$kubectl" config view --minify -o 'jsonpath={..namespace}' 2>/dev/null || true)
printf '$ kubectl label namespace %s katib.kubeflow.org/metrics-collector-injection=enabled --overwrite\n' "${ns:-default}"
"$kubectl" label namespace "${ns:-default}" katib.kubeflow.org/metrics-collector-injection=enabled --overwrite
k tune --param lr=double:0.001:0.1 --param layers=int:1:5 --objective accuracy --trials 4 --parallel-trials 2 --workers 1 --cpu 500m --memory 1Gi
k get experiments -o wide
k model history -o wide

say "the PyTorch example: the cluster serves Kubeflow Trainer v2, so it trains as a TrainJob on torch-distributed"
pytorch=$work/mnist-pytorch
cp -r "$root/examples/mnist-pytorch" "$pytorch"
sed -i -e "s#image: .*#image: 127.0.0.1:$port/kaptain/mnist-pytorch:0.0.1#" \
  -e 's#baseImage: .*#baseImage: scratch#' -e '/requirements:/d' "$pytorch/kaptain.yaml"
(cd "$pytorch" && k train --build -p epochs=2 --workers 2 --cpu 500m --memory 1Gi)
k get jobs

say "serve the trained model with KServe v0.20 (Standard mode) and wait until it is ready (the simulated nodes ran no training code, so there is no saved model to check first)"
k deploy --cpu 500m --memory 1Gi --skip-model-check
k get inferenceservices

say "try another model on 30% of the traffic: a Standard-mode canary, its own Deployment beside the stable one; then promote it"
k deploy --canary-traffic-percent 30 --model-uri s3://kaptain/models/dev/mnist-tensorflow/candidate --skip-model-check --cpu 500m --memory 1Gi
isvc=$(HOME=$work "$bin" get inferenceservices -o name)
k describe inferenceservice "${isvc#*/}"
k promote

say "clean up"
k undeploy
k diagnose || true
