//go:build integration

package integration

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/test/harness"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestGoldenManifestsPassServerDryRun sends every reviewed golden manifest (TFJobs,
// PyTorchJobs, Experiments per algorithm, InferenceServices per framework and mode, the
// plugin's client dry-run outputs) to the API server with dryRun=All, against the upstream
// CRDs and the Katib fixture.
func TestGoldenManifestsPassServerDryRun(t *testing.T) {
	ns := namespace(t)
	var files []string
	for _, pattern := range []string{"pkg/workload/testdata/*.yaml", "pkg/workload/testdata/isvc/*.yaml", "cmd/kubectl-kaptain/testdata/train-*yaml*.golden", "cmd/kubectl-kaptain/testdata/train-*worker*.golden", "cmd/kubectl-kaptain/testdata/train-*cpu*.golden"} {
		matches, err := filepath.Glob(repoPath(pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	if len(files) < 30 {
		t.Fatalf("found only %d golden manifests", len(files))
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		for _, u := range harness.ReadManifests(t, f) {
			u.SetNamespace(ns)
			body, _ := u.MarshalJSON()
			gvk := u.GroupVersionKind()
			shared.mapper.Reset()
			mapping, err := shared.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Fatalf("%s: %s is not served: %v", f, gvk, err)
			}
			_, err = shared.dynamic.Resource(mapping.Resource).Namespace(ns).Patch(context.Background(), u.GetName(), types.ApplyPatchType, body,
				metav1.PatchOptions{FieldManager: "golden-test", DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Errorf("%s: the server refuses %s %s: %v", filepath.Base(f), gvk.Kind, u.GetName(), err)
			}
		}
	}
	t.Logf("%d golden files accepted", len(seen))
}
