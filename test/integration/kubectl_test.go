//go:build integration

package integration

import (
	"bytes"
	"cmp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kubectlPath is the kubectl that 'make integration' builds with the control plane
// (KAPTAIN_KUBECTL), else the machine's; these tests are about working with it, so its
// absence fails them.
func kubectlPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath(cmp.Or(os.Getenv("KAPTAIN_KUBECTL"), "kubectl"))
	if err != nil {
		t.Fatalf("no kubectl (%v): run the suite with 'make integration', which builds it, or put kubectl on PATH", err)
	}
	return p
}

// TestKubectlAcceptsRenderedJobs pipes the examples' client dry runs into kubectl apply.
func TestKubectlAcceptsRenderedJobs(t *testing.T) {
	kubectl := kubectlPath(t)
	var out bytes.Buffer
	for _, example := range []string{"mnist-tensorflow", "mnist-pytorch"} {
		r := kaptain(t, repoPath("examples", example), nil, "train", "--dry-run=client", "-o", "yaml")
		if r.code != 0 {
			t.Fatalf("%s: exit %d\n%s", example, r.code, r.stderr)
		}
		out.WriteString("---\n" + r.stdout)
	}
	// The jobs render into the kubeconfig's namespace, "default"; a server dry run persists
	// nothing there.
	apply := exec.Command(kubectl, "--kubeconfig", shared.kubeconfig, "apply", "--dry-run=server", "-f", "-")
	apply.Stdin = bytes.NewReader(out.Bytes())
	got, err := apply.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server refused the rendered jobs: %v\n%s", err, got)
	}
	if strings.Count(string(got), "created (server dry run)") != 2 {
		t.Errorf("kubectl said:\n%s\nwant a TFJob and a PyTorchJob created (server dry run)", got)
	}
}

// TestKubectlDiscoversThePlugin puts the built binary on PATH and runs it through kubectl.
func TestKubectlDiscoversThePlugin(t *testing.T) {
	kubectl := kubectlPath(t)
	path := filepath.Dir(shared.binary) + string(os.PathListSeparator) + os.Getenv("PATH")
	run := func(args ...string) string {
		cmd := exec.Command(kubectl, args...)
		cmd.Env = append(os.Environ(), "PATH="+path, "HOME="+shared.home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("kaptain", "version"); !strings.HasPrefix(out, "kubectl-kaptain ") {
		t.Errorf("kubectl kaptain version = %q", out)
	}
	if out := run("plugin", "list"); !strings.Contains(out, shared.binary) {
		t.Errorf("kubectl plugin list does not show %s:\n%s", shared.binary, out)
	}
}
