#!/usr/bin/env bash
# Builds what the e2e tier runs beside the control plane, pinned, from the Go module proxy into
# the ignored cache, skipping what is there, and prints the bin directory: kwok (simulated nodes
# and pods), the Kubeflow Training Operator (v1: TFJob, PyTorchJob), Kubeflow Trainer v2's
# controller manager (TrainJob) with the JobSet controller it runs TrainJobs through, and the
# KServe controller manager, Kueue's controller manager, Katib's controller and db-manager (with katib-play, this
# repository's player of Katib's pods, built from test/katib), and Knative Serving's webhook, autoscaler and controller
# (built from test/knative, which pins knative.dev/serving and wraps its controller). Their manifests (CRDs, webhooks, runtimes, configmap, kwok stages)
# are read from the module cache at run time. Each binary is kept under its version, so that
# changing one version rebuilds that one only.
#
# Environment: KAPTAIN_CACHE (default .cache under the repository), KWOK_VERSION,
# TRAINING_OPERATOR_VERSION, TRAINER_VERSION, JOBSET_VERSION, KSERVE_VERSION, KATIB_VERSION,
# KUEUE_VERSION.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KAPTAIN_CACHE:-$root/.cache}
kwok_version=${KWOK_VERSION:-v0.8.0}
training_version=${TRAINING_OPERATOR_VERSION:-v1.8.1}
trainer_version=${TRAINER_VERSION:-v2.3.0}
jobset_version=${JOBSET_VERSION:-v0.12.0}
kserve_version=${KSERVE_VERSION:-v0.20.0}
katib_version=${KATIB_VERSION:-v0.19.0}
kueue_version=${KUEUE_VERSION:-v0.19.2}
bin=$cache/operators/kwok-$kwok_version-training-$training_version-trainer-$trainer_version-jobset-$jobset_version-kserve-$kserve_version-katib-$katib_version-kueue-$kueue_version/bin
built=$cache/operators/built
mkdir -p "$bin" "$built"

log() { printf 'operators: %s\n' "$*" >&2; }

# replaces MODULE VERSION: prints the module's own go.mod replace directives (those that name a
# module version) as go mod edit flags. Go ignores a dependency's replace directives; a module
# that pins its dependencies with them (KServe does) builds only with them.
replaces() {
  local dir
  dir=$(go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  awk '/^replace \(/ {block=1; next} block && /^\)/ {block=0; next}
       block || /^replace [^(]/ {sub(/^replace /, ""); sub(/\/\/.*/, ""); print}' "$dir/go.mod" |
    while read -r old a b c d; do
      # "old => new version" or "old oldversion => new version"
      if [ "$a" = "=>" ] && [ -n "$c" ]; then echo "-replace=$old=$b@$c"
      elif [ "$b" = "=>" ] && [ -n "$d" ]; then echo "-replace=$old@$a=$c@$d"
      fi
    done
}

# install NAME MODULE VERSION PACKAGE [replaces]: builds PACKAGE of MODULE@VERSION as
# built/NAME-VERSION, in a module of its own that requires it (go install pkg@version would
# list the module's versions, which the proxy refuses for some modules), with the module's own
# replace directives when asked, and links it into bin as NAME.
install() {
  local name=$1 module=$2 version=$3 pkg=$4 withReplaces=${5:-}
  local out=$built/$name-$version
  if [ ! -x "$out" ]; then
    log "building $name from $module@$version (a few minutes, once)"
    local work=$cache/operators/build-$name
    rm -rf "$work" && mkdir -p "$work"
    printf 'module kaptain.local/%s\n\ngo 1.26\n\nrequire %s %s\n' "$name" "$module" "$version" >"$work/go.mod"
    if [ -n "$withReplaces" ]; then
      # shellcheck disable=SC2046 # one flag per line
      (cd "$work" && go mod edit $(replaces "$module" "$version"))
    fi
    printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$work/tools.go"
    (cd "$work" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || true)
    (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$out.tmp" "$pkg")
    mv "$out.tmp" "$out"
    rm -rf "$work"
  fi
  ln -sf "$out" "$bin/$name"
}

install kwok sigs.k8s.io/kwok "$kwok_version" sigs.k8s.io/kwok/cmd/kwok
install training-operator github.com/kubeflow/training-operator "$training_version" github.com/kubeflow/training-operator/cmd/training-operator.v1
install jobset-controller sigs.k8s.io/jobset "$jobset_version" sigs.k8s.io/jobset
install trainer-controller-manager github.com/kubeflow/trainer/v2 "$trainer_version" github.com/kubeflow/trainer/v2/cmd/trainer-controller-manager
install kserve-manager github.com/kserve/kserve "$kserve_version" github.com/kserve/kserve/cmd/manager replaces
install katib-controller github.com/kubeflow/katib "$katib_version" github.com/kubeflow/katib/cmd/katib-controller/v1beta1
install katib-db-manager github.com/kubeflow/katib "$katib_version" github.com/kubeflow/katib/cmd/db-manager/v1beta1
# Katib's StdOut and File metrics collector, which runs as a sidecar of the trials on the real node.
install katib-file-metricscollector github.com/kubeflow/katib "$katib_version" github.com/kubeflow/katib/cmd/metricscollector/v1beta1/file-metricscollector
install kueue-manager sigs.k8s.io/kueue "$kueue_version" sigs.k8s.io/kueue/cmd/kueue
# katib-play (goptuna and the metrics collector, played on loopback) is this repository's, in
# the test/katib module; go build's cache makes it quick when nothing changed.
(cd "$root/test/katib" && CGO_ENABLED=0 go build -trimpath -o "$bin/katib-play.tmp" ./cmd/katib-play && mv "$bin/katib-play.tmp" "$bin/katib-play")
# Knative Serving: the version and its dependencies are test/knative's go.mod; the binaries are
# kept under a hash of that module's go.sum and sources, so that they are linked once.
knative_key=$(cat "$root/test/knative/go.mod" "$root/test/knative/go.sum" "$root"/test/knative/cmd/*/*.go | sha256sum | cut -c1-12)
for name in knative-webhook:knative.dev/serving/cmd/webhook knative-autoscaler:knative.dev/serving/cmd/autoscaler \
  knative-controller:./cmd/knative-controller; do
  out=$built/${name%%:*}-$knative_key
  if [ ! -x "$out" ]; then
    log "building ${name%%:*} from test/knative (a few minutes, once)"
    (cd "$root/test/knative" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp" "${name#*:}" && mv "$out.tmp" "$out")
  fi
  ln -sf "$out" "$bin/${name%%:*}"
done
echo "$bin"
