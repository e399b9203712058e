#!/usr/bin/env bash
# The main job, as it stands: render the example models' training jobs as one YAML stream
# that 'kubectl apply -f -' accepts. Contacts nothing (--dry-run=client).
#
#   hack/demo.sh [PATH-TO-kubectl-kaptain]     (make demo builds it first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "$(dirname "${1:-$root/bin/kubectl-kaptain}")" && pwd)/$(basename "${1:-kubectl-kaptain}")
sep=""
for example in mnist-tensorflow mnist-pytorch; do
  printf '%s# examples/%s: kubectl kaptain train --dry-run=client -o yaml\n' "$sep" "$example"
  (cd "$root/examples/$example" && "$bin" train --dry-run=client -o yaml)
  sep=$'---\n'
done
