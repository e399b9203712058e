#!/usr/bin/env bash
# Copies the upstream CRDs the tests install from the Go module cache (downloading the modules
# through the Go module proxy when needed) into an ignored cache directory, and prints it:
# TFJob and PyTorchJob from kubeflow/training-operator, TrainJob and the training runtimes from
# kubeflow/trainer (v2), Kueue's Workload (and LocalQueue, ClusterQueue, ResourceFlavor) from
# kubernetes-sigs/kueue, InferenceService from kserve/kserve.
# Katib's module is not served by the proxy; its Experiment CRD is a fixture under
# test/testdata/crds/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
training_version=${TRAINING_OPERATOR_VERSION:-v1.8.1}
trainer_version=${TRAINER_VERSION:-v2.3.0}
kueue_version=${KUEUE_VERSION:-v0.19.0}
# KServe v0.15.2 on purpose: a KServe without Standard-mode canaries (spec.canary, v0.20), whose
# refusal the integration tests check; the e2e tier runs KServe v0.20.0.
kserve_version=${KSERVE_VERSION:-v0.15.2}
out=$cache/crds/training-$training_version-trainer-$trainer_version-runtimes-kueue-$kueue_version-kserve-$kserve_version

if [ ! -f "$out/.done" ]; then
  rm -rf "$out" && mkdir -p "$out"
  dir_of() { (cd "$root" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'); }
  training=$(dir_of "github.com/kubeflow/training-operator@$training_version")
  kserve=$(dir_of "github.com/kserve/kserve@$kserve_version")
  trainer=$(dir_of "github.com/kubeflow/trainer/v2@$trainer_version")
  kueue=$(dir_of "sigs.k8s.io/kueue@$kueue_version")
  cp "$training/manifests/base/crds/kubeflow.org_tfjobs.yaml" \
     "$training/manifests/base/crds/kubeflow.org_pytorchjobs.yaml" "$out/"
  cp "$trainer/manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml" \
     "$trainer/manifests/base/crds/trainer.kubeflow.org_trainingruntimes.yaml" \
     "$trainer/manifests/base/crds/trainer.kubeflow.org_clustertrainingruntimes.yaml" "$out/"
  for crd in workloads localqueues clusterqueues resourceflavors; do cp "$kueue/config/components/crd/bases/kueue.x-k8s.io_$crd.yaml" "$out/"; done
  # Not CRDs: the runtimes Trainer installs for torch, deepspeed, mlx, jax and xgboost, which the
  # tests create once the CRDs are in.
  mkdir -p "$out/runtimes" && cp "$trainer"/manifests/base/runtimes/*_distributed.yaml "$out/runtimes/"
  cp "$kserve/config/crd/full/serving.kserve.io_inferenceservices.yaml" "$out/"
  chmod u+w "$out"/*.yaml "$out"/runtimes/*.yaml
  touch "$out/.done"
fi
echo "$out"
