package render

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
)

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}

const (
	jobDoc = `{"kind": "TFJob", "apiVersion": "kubeflow.org/v1", "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 2,
  "template": {"spec": {"containers": [{"name": "tensorflow", "image": "mnist:1"}]}}}}}, "metadata": {"name": "mnist"}}`
	secretDoc = `{"metadata": {"name": "mnist-storage"}, "kind": "Secret", "apiVersion": "v1", "type": "Opaque", "data": {"AWS_SECRET_ACCESS_KEY": "c2VjcmV0"}}`
)

func TestRenderGolden(t *testing.T) {
	smp, err := ParsePatch("gpu.yaml", []byte("kind: TFJob\nspec:\n  tfReplicaSpecs:\n    Worker:\n      template:\n        spec:\n          nodeSelector: {gpu: \"true\"}\n"), "TFJob")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		opts   Options
		redact bool
	}{
		{"plain", Options{}, false},
		{"all-filters", Options{
			Namespace:   "team-a",
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "kubectl-kaptain", "kaptain.dev/model": "mnist", "kaptain.dev/revision": "r1", "team": "vision"},
			Annotations: map[string]string{"kaptain.dev/model-id": "dev/mnist"},
			Owner:       &OwnerLinks{APIVersion: "kubeflow.org/v1", Kind: "TFJob", Name: "mnist", OwnedKinds: []string{"Secret"}},
			Patches:     []Patch{smp},
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, err := Render(objects(t, jobDoc, secretDoc), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.redact { // as the printer does
				if nodes, err = kio.FilterAll(Redact{}).Filter(nodes); err != nil {
					t.Fatal(err)
				}
			}
			var b bytes.Buffer
			if err := WriteYAML(&b, nodes); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".yaml"), b.Bytes())
		})
	}
}

func TestRenderDoesNotRedactWhatIsApplied(t *testing.T) {
	nodes, err := Render(objects(t, secretDoc), Options{Namespace: "a"})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Objects(nodes)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(objs[0].Object, "data", "AWS_SECRET_ACCESS_KEY"); got != "c2VjcmV0" {
		t.Errorf("data = %q, want the value kept", got)
	}
	if len(objs[0].GetAnnotations()) != 0 {
		t.Errorf("annotations = %v, want none (no pipeline internals)", objs[0].GetAnnotations())
	}
}

// TestRedactedLeavesTheObjectAlone: a printer redacts its copy of a Secret, never the object the
// action applied, and passes other objects through.
func TestRedactedLeavesTheObjectAlone(t *testing.T) {
	objs := objects(t, secretDoc, jobDoc)
	red, err := Redacted(objs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(red.Object, "data", "AWS_SECRET_ACCESS_KEY"); got != "PHJlZGFjdGVkPg==" {
		t.Errorf("redacted data = %q, want the base64 of <redacted>", got)
	}
	if red.GetAnnotations()[AnnotationRedacted] != "true" {
		t.Errorf("annotations = %v, want %s", red.GetAnnotations(), AnnotationRedacted)
	}
	if got, _, _ := unstructured.NestedString(objs[0].Object, "data", "AWS_SECRET_ACCESS_KEY"); got != "c2VjcmV0" {
		t.Errorf("the Secret given was changed: data = %q", got)
	}
	if job, err := Redacted(objs[1]); err != nil || job != objs[1] {
		t.Errorf("Redacted(TFJob) = %v, %v; want the object itself", job, err)
	}
}

func TestRenderErrors(t *testing.T) {
	wrongKind, err := ParsePatch("p.yaml", []byte("kind: PyTorchJob\nspec: {}\n"), "TFJob")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		opts Options
		want string
	}{
		"patch of a kind that is not rendered": {Options{Patches: []Patch{wrongKind}}, "no rendered object is a PyTorchJob"},
		"owner not rendered":                   {Options{Owner: &OwnerLinks{APIVersion: "kubeflow.org/v1", Kind: "PyTorchJob", Name: "x"}}, "owner PyTorchJob x is not among"},
	} {
		_, err := Render(objects(t, jobDoc), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", name, err, tc.want)
		}
	}
}

func TestParsePatch(t *testing.T) {
	for name, tc := range map[string]struct {
		data, want string
		typ        PatchType
	}{
		"strategic":          {data: "kind: TFJob\nmetadata: {name: mnist}\n", typ: StrategicMerge},
		"json6902 yaml":      {data: "- {op: add, path: /spec/x, value: 1}\n", typ: JSON6902},
		"json6902 json":      {data: `[{"op": "remove", "path": "/spec/x"}]`, typ: JSON6902},
		"no kind":            {data: "spec: {}\n", want: "needs the kind"},
		"operation sans op":  {data: "- {path: /spec/x}\n", want: "needs op and path"},
		"bad operation":      {data: "- {op: frobnicate, path: /x}\n", want: ""},
		"scalar":             {data: "hello\n", want: "expected a map"},
		"not yaml":           {data: "kind: [\n", want: "not valid YAML"},
		"unknown op is kept": {data: "- {op: move, from: /a, path: /b}\n", typ: JSON6902},
	} {
		p, err := ParsePatch("p.yaml", []byte(tc.data), "TFJob")
		switch {
		case tc.typ != "":
			if err != nil || p.Type != tc.typ {
				t.Errorf("%s: type %q, error %v; want %q", name, p.Type, err, tc.typ)
			}
		case err == nil && tc.want != "":
			t.Errorf("%s: accepted", name)
		case err != nil && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
}

func TestPatchesKeepWhatKaptainFindsItsObjectsBy(t *testing.T) {
	opts := func(patch string) Options {
		p, err := ParsePatch("p.yaml", []byte(patch), "TFJob")
		if err != nil {
			t.Fatal(err)
		}
		return Options{Namespace: "team-a", Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-kaptain", "kaptain.dev/model": "mnist"}, Patches: []Patch{p}}
	}
	for name, patch := range map[string]string{
		"removed": `[{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1managed-by"}]`,
		"changed": "kind: TFJob\nmetadata:\n  labels:\n    app.kubernetes.io/managed-by: helm\n    kaptain.dev/model: other\n    extra: kept\n",
	} {
		nodes, err := Render(objects(t, jobDoc), opts(patch))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		labels := nodes[0].GetLabels()
		if labels["app.kubernetes.io/managed-by"] != "kubectl-kaptain" || labels["kaptain.dev/model"] != "mnist" {
			t.Errorf("%s: labels after the patch = %v, want kaptain's back", name, labels)
		}
		if name == "changed" && labels["extra"] != "kept" {
			t.Errorf("%s: the patch's own label was lost: %v", name, labels)
		}
	}
	_, err := Render(objects(t, jobDoc), opts("kind: TFJob\nmetadata:\n  namespace: kube-system\n"))
	if err == nil || !strings.Contains(err.Error(), `a --patch moves TFJob mnist to namespace "kube-system"`) {
		t.Errorf("a patch moving the job: %v", err)
	}
}
