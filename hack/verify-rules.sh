#!/usr/bin/env bash
# Project rules that the compiler does not check.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
# Output data goes to the command's streams: no os.Stdout / os.Stderr outside cmd/.
if grep -rn --include='*.go' -E 'os\.(Stdout|Stderr)' pkg/ | grep -v '_test.go'; then
  echo "verify-rules: use the command's IOStreams, not os.Stdout / os.Stderr, in pkg/" >&2; fail=1
fi
# Domain packages never import cobra or the plugin package.
for p in model config credentials workload render apply run inventory platform local logs track sdkerr image storage; do
  if grep -rn --include='*.go' -E '"github.com/spf13/cobra"|kubectl-kaptain/pkg/plugin"' "pkg/$p" 2>/dev/null; then
    echo "verify-rules: pkg/$p must not import cobra or pkg/plugin" >&2; fail=1
  fi
done
# inventory (what kaptain made) and platform (what the cluster serves) read the cluster; the
# engine (run) and the log streams (logs) are the commands' to drive.
if grep -rn --include='*.go' -E 'kubectl-kaptain/pkg/(run|run/waitfor|logs)"' pkg/inventory pkg/platform | grep -v '_test.go'; then
  echo "verify-rules: pkg/inventory and pkg/platform must not import pkg/run or pkg/logs" >&2; fail=1
fi
# workload and render never import a client.
if grep -rn --include='*.go' -E '"k8s.io/client-go' pkg/workload pkg/render | grep -v '_test.go'; then
  echo "verify-rules: pkg/workload and pkg/render must not use a client" >&2; fail=1
fi
# A file holds one job: no non-test Go file in pkg/ over 400 lines.
if find pkg -name '*.go' ! -name '*_test.go' -exec wc -l {} + | awk '$2 != "total" && $1 > 400 {print; bad=1} END {exit !bad}'; then
  echo "verify-rules: split the files above (400 lines at most)" >&2; fail=1
fi
# The dry-run mode is compared in one place: run.Mode's methods.
if grep -rn --include='*.go' -E 'DryRun(None|Client|Server)\b|[=!]= *run\.(Apply|ServerDryRun|ClientDryRun)\b' pkg cmd | grep -v '_test.go' | grep -v '^pkg/run/mode.go:'; then
  echo "verify-rules: ask run.Mode (Offline, Applies, ServerSide) instead of comparing the dry-run strategy" >&2; fail=1
fi
# No io/ioutil.
if grep -rn --include='*.go' '"io/ioutil"' .; then
  echo "verify-rules: io/ioutil is deprecated" >&2; fail=1
fi
exit $fail
