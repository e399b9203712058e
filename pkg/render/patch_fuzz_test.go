package render

import (
	"testing"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const fuzzTFJob = `apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: m-train-abc123
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 2
      template:
        spec:
          containers:
          - name: tensorflow
            image: registry.example.com/m:1
`

// FuzzParsePatch: any --patch file either is refused with an error or patches a TFJob (or
// says it matches nothing) without panicking.
func FuzzParsePatch(f *testing.F) {
	for _, s := range []string{
		`[{"op": "add", "path": "/spec/tfReplicaSpecs/Worker/template/spec/tolerations", "value": [{"key": "gpu", "operator": "Exists"}]}]`,
		"kind: TFJob\nspec:\n  tfReplicaSpecs:\n    Worker:\n      template:\n        spec:\n          nodeSelector: {pool: gpu}\n",
		`[{"op": "remove", "path": "/spec/nothing"}]`,
		"kind: PyTorchJob\nmetadata: {name: x}\n",
		"- just\n- a list\n",
		"42",
		"{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePatch("fuzz.yaml", data, "TFJob")
		if err != nil {
			return
		}
		node, err := yaml.Parse(fuzzTFJob)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = p.Filter([]*yaml.RNode{node})
	})
}
