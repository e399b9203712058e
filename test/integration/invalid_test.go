//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// invalidCase is a kaptain.yaml under test/testdata/invalid whose first two lines say the
// exit code and error it must give: "# exit: N" and "# error: message".
type invalidCase struct {
	file, error string
	exit        int
}

func invalidCases(t *testing.T) []invalidCase {
	t.Helper()
	dir := filepath.Join("..", "testdata", "invalid")
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) < 15 {
		t.Fatalf("want at least 15 invalid kaptain.yaml cases, found %d (%v)", len(paths), err)
	}
	var out []invalidCase
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(data), "\n", 3)
		code, err := strconv.Atoi(strings.TrimPrefix(lines[0], "# exit: "))
		if err != nil || !strings.HasPrefix(lines[1], "# error: ") {
			t.Fatalf("%s: the first lines must be '# exit: N' and '# error: message'", p)
		}
		out = append(out, invalidCase{file: filepath.Base(p), exit: code, error: strings.TrimPrefix(lines[1], "# error: ")})
	}
	return out
}

// TestInvalidModelsCreateNothing runs a real (not dry-run) train on every invalid kaptain.yaml:
// each exits with its documented code and message, printed once, and leaves the namespace
// empty.
func TestInvalidModelsCreateNothing(t *testing.T) {
	ns := namespace(t)
	cases := append(invalidCases(t), invalidCase{file: "absent.yaml", exit: sdkerr.UndefinedModelProperty.ExitCode(), error: "absent.yaml not found: run 'kubectl kaptain init'"})
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.file, ".yaml"), func(t *testing.T) {
			r := kaptain(t, filepath.Join("..", "testdata", "invalid"), nil, "train", "-n", ns, "-f", tc.file)
			if r.code != tc.exit {
				t.Errorf("exit code = %d, want %d; stderr: %s", r.code, tc.exit, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "error: ") || !strings.Contains(r.stderr, tc.error) {
				t.Errorf("stderr = %q, want an error containing %q", r.stderr, tc.error)
			}
			if strings.Count(r.stderr, "error") != 1 {
				t.Errorf("the error is printed more than once: %q", r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
	if n := count(t, tfJobs, ns) + count(t, pyTorchJobs, ns) + count(t, experiments, ns) + count(t, inferenceSvc, ns); n != 0 {
		t.Errorf("%d workloads exist after invalid input, want 0", n)
	}
	secrets, err := shared.client.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) != 0 {
		t.Errorf("%d Secrets exist after invalid input, want 0", len(secrets.Items))
	}
}
