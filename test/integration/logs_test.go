//go:build integration

package integration

import (
	"strings"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

func TestLogsFindsTheJobAndItsReplicas(t *testing.T) {
	ns := namespace(t)
	r := kaptain(t, ".", nil, "logs", "-n", ns, "missing")
	if r.code != sdkerr.Unknown.ExitCode() || !strings.Contains(r.stderr, "error: no tfjob, pytorchjob, trainjob named missing in namespace "+ns) {
		t.Errorf("missing job: exit %d, stderr %q", r.code, r.stderr)
	}
	r = kaptain(t, repoPath("examples", "mnist-pytorch"), nil, "train", "-n", ns, "--wait=false", "-o", "name")
	if r.code != 0 {
		t.Fatalf("train: %s", r.stderr)
	}
	name := strings.SplitN(strings.TrimSpace(r.stdout), "/", 2)[1]
	r = kaptain(t, ".", nil, "logs", "-n", ns, name, "--replica", "worker-0")
	if r.code != 0 || !strings.Contains(r.stderr, "no replica pods of "+name+" matching --replica worker-0 yet") {
		t.Errorf("no pods: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := kaptain(t, ".", nil, "logs", "-n", ns, name, "--kind", "mxjob"); r.code != sdkerr.Usage.ExitCode() {
		t.Errorf("--kind mxjob: exit %d, stderr %q", r.code, r.stderr)
	}
}
