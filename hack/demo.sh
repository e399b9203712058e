#!/usr/bin/env bash
# The main job, printed as a user would see it: the TensorFlow example built, trained as a TFJob
# and tuned with Katib, the PyTorch example trained as a Kubeflow Trainer v2 TrainJob (on the
# simulated nodes, which run no code), then the XGBoost example from source to a served
# endpoint on the real node: its code trains in a container, saves the model to an S3 server,
# and KServe serves it, with a canary, answering predictions. Without KUBECONFIG in the
# environment it starts a local Kubeflow first (kube-apiserver, etcd, controller manager,
# scheduler, kwok nodes and a real node of kubelet, containerd and runc, the real Kubeflow
# Training Operator, Trainer v2 with JobSet, KServe, Katib: test/localcluster), an OCI registry
# on loopback (Debian's docker-registry) and an S3 server on the real node's network
# (versitygw), and stops them at the end. The real node needs root (network namespaces).
# With KUBECONFIG set, the real node's part runs when KAPTAIN_NODE_HOST, KAPTAIN_NODE_REGISTRY
# and KAPTAIN_NODE_BASE_IMAGE say where (local-cluster up --node writes them to node.env).
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
  say "starting a local Kubeflow: control plane, kwok nodes and a real node, Training Operator, Trainer v2 and JobSet, KServe, Katib (logs in $work/cluster)"
  cp=$("$root/hack/control-plane.sh" kube-scheduler kube-controller-manager kubectl)
  ops=$("$root/hack/operators.sh")
  pg=$("$root/hack/postgres.sh")
  node=$("$root/hack/node.sh")
  (cd "$root/test" && go build -o "$work/local-cluster" ./localcluster/cmd/local-cluster)
  "$work/local-cluster" up --dir "$work/cluster" --control-plane "$cp" --operators "$ops" \
    --postgres "$pg" --node "$node" 2>"$work/local-cluster.log" &
  pids+=($!)
  for _ in $(seq 600); do [ -f "$work/cluster/ready" ] && break; kill -0 "${pids[0]}" 2>/dev/null || break; sleep 0.5; done
  [ -f "$work/cluster/ready" ] || { cat "$work/local-cluster.log" >&2; echo "demo: the local cluster did not start" >&2; exit 1; }
  export KUBECONFIG=$work/cluster/kubeconfig
  cat "$work/local-cluster.log"
  set -a
  . "$work/cluster/node.env"
  set +a
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

say "the XGBoost example on the real node (kubelet, containerd, runc): its code runs, in a container of the image built from it on a base image made here from Debian's packages"
if [ -z "${KAPTAIN_NODE_HOST:-}" ]; then
  echo "no real node (KAPTAIN_NODE_HOST is not set): the rest needs one"
  exit 0
fi
s3port=$(free_port)
s3=$("$root/hack/s3-server.sh")
mkdir -p "$work/s3/kaptain"
"$s3" --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "$KAPTAIN_NODE_HOST:$s3port" --quiet posix "$work/s3" >"$work/s3.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/$KAPTAIN_NODE_HOST/$s3port") 2>/dev/null && break; sleep 0.1; done
iris=$work/iris-xgboost
cp -r "$root/examples/iris-xgboost" "$iris"
# Its image in the node's registry on the node's base image (Debian's python3-xgboost and
# python3-sklearn stand for its requirements), its models in the S3 server on the node's network.
sed -i -e "s#image: .*#image: $KAPTAIN_NODE_REGISTRY/kaptain/iris-xgboost:0.0.1#" \
  -e "s#baseImage: .*#baseImage: $KAPTAIN_NODE_BASE_IMAGE#" -e '/requirements:/d' \
  -e "s#^    modelStorageURI: .*#&\n    storage: {endpoint: \"http://$KAPTAIN_NODE_HOST:$s3port\", region: us-east-1, forcePathStyle: true}#" "$iris/kaptain.yaml"
# The real node is tainted, so that only what tolerates it goes there: two flags send the pods
# that run (or serve) the code to it, whatever their kind.
realnode=(--node-selector kaptain.dev/node=real --toleration kaptain.dev/real-node:NoSchedule)
cd "$iris"

say "train it: a TrainJob of two nodes on Trainer's xgboost-distributed runtime, on the real node; node 1 meets node 0's tracker by the name Trainer gives it (the cluster's DNS answers it), they train one model, and node 0 saves model.bst to TRAINED_MODEL_UPLOAD_PATH"
k train --build --insecure-registry --workers 2 "${realnode[@]}" --cpu 300m --memory 512Mi | tee "$work/train.out"
job=$(sed -n 's#^trainjob.trainer.kubeflow.org/\([^ ]*\) created$#\1#p' "$work/train.out")
k logs "$job"

say "tune it on the real node: two trials, each a TrainJob whose node runs the code beside Katib's own metrics collector (its webhook adds it), which reads the accuracy the code prints and reports it to Katib's db-manager"
k tune --param eta=double:0.1:0.5 --param rounds=int:10:30 --objective accuracy --trials 2 --parallel-trials 2 --failed-trials 0 \
  --workers 1 --cpu 300m --memory 512Mi "${realnode[@]}"

say "serve the best model so far (the tuned one) with KServe v0.20 (Standard mode): the saved model passes the check of what KServe's XGBoost server loads, its storage initializer copies it from S3"
k deploy "${realnode[@]}" --cpu 200m --memory 256Mi
isvc=$(HOME=$work "$bin" get inferenceservices -o name)
isvc=${isvc#*/}
k get inferenceservices
# predict: a V1 prediction request to the predictor's service (its host in status.address.url)
# through the API server's service proxy: the local cluster has no ingress.
predict() {
  local url svc
  url=$("$kubectl" get inferenceservice "$isvc" -o 'jsonpath={.status.address.url}')
  svc=${url#http://}
  svc=${svc%%.*}
  printf '%s\n' '{"instances": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]}' >"$work/instances.json"
  printf '$ kubectl create --raw /api/v1/namespaces/%s/services/%s:80/proxy/v1/models/%s:predict -f instances.json\n' "${ns:-default}" "$svc" "$isvc"
  "$kubectl" create --raw "/api/v1/namespaces/${ns:-default}/services/$svc:80/proxy/v1/models/$isvc:predict" -f "$work/instances.json"
  echo
}
say "ask it: setosa, virginica and versicolor measurements, which it should answer 0, 2 and 1"
predict

say "train another model on one node (fewer rounds, a lower learning rate) and try it on 30% of the traffic: a Standard-mode canary, its own Deployment beside the stable one; then promote it"
k train --build --insecure-registry --workers 1 "${realnode[@]}" --cpu 300m --memory 512Mi -p eta=0.1 -p rounds=5 | tee "$work/train.out"
candidate=$(sed -n 's#.*the code was told to save it to \(s3://[^ ]*\)$#\1#p' "$work/train.out")
k model history
k deploy --canary-traffic-percent 30 --model-uri "$candidate" --cpu 200m --memory 256Mi
k describe inferenceservice "$isvc"
k promote
predict

say "clean up"
k undeploy
k diagnose || true
