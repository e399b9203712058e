package workload

import (
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

func testModel(framework string) *model.Model {
	m := &model.Model{Spec: model.Spec{
		ID: "dev/mnist", Name: "MNIST", Version: "0.0.1", Framework: framework, FrameworkVersion: "1",
		MainFile: "trainer.py", Image: "registry.example.com/kaptain/mnist:0.0.1", BaseImage: "python:3.11",
		Config: model.Config{ModelStorageURI: "s3://kaptain/models/"},
	}}
	m.Default()
	return m
}

func TestTrainingJobGolden(t *testing.T) {
	ttl := int32(600)
	for _, tc := range []struct {
		name, framework string
		train           Train
	}{
		{"tfjob-defaults", "tensorflow", Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 2}},
		{"tfjob-full", "tensorflow", Train{
			Name: "mnist-train-abc123", Revision: "rev-1", Workers: 4, Image: "registry.example.com/kaptain/mnist@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			Hyperparameters:         map[string]any{"lr": 0.001, "epochs": 10, "optimizer": "adam", "nesterov": true},
			Args:                    map[string]string{"data-dir": "/data"},
			Resources:               Resources{CPURequest: "500m", CPULimit: "2", MemoryRequest: "1Gi", MemoryLimit: "4Gi", GPULimit: 1},
			TTLSecondsAfterFinished: &ttl, StorageSecret: "mnist-train-abc123-storage",
		}},
		{"pytorchjob-one-worker", "pytorch", Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 1}},
		{"pytorchjob-three-workers", "pytorch", Train{Name: "mnist-train-abc123", Revision: "rev-1", Workers: 3,
			Hyperparameters: map[string]any{"lr": 0.01}, Resources: Resources{CPURequest: "1", CPULimit: "1", GPULimit: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job, err := TrainingJob(testModel(tc.framework), tc.train)
			if err != nil {
				t.Fatal(err)
			}
			out, err := yaml.Marshal(job.Object)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".yaml"), out)
		})
	}
}

func TestTrainingJobRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		framework string
		train     Train
	}{
		"no name":           {"tensorflow", Train{Workers: 1}},
		"no workers":        {"tensorflow", Train{Name: "x", Workers: 0}},
		"bad quantity":      {"tensorflow", Train{Name: "x", Workers: 1, Resources: Resources{CPULimit: "lots"}}},
		"untrainable model": {"sklearn", Train{Name: "x", Workers: 1}},
	} {
		if _, err := TrainingJob(testModel(tc.framework), tc.train); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestArguments(t *testing.T) {
	got := Arguments(map[string]any{"lr": 0.0001, "b": true, "a": int64(3), "big": 1e21, "s": "x y"}, map[string]string{"z": "1", "data": "/d"})
	want := []string{"--a=3", "--b=true", "--big=1e+21", "--lr=0.0001", "--s=x y", "--data=/d", "--z=1"}
	if len(got) != len(want) {
		t.Fatalf("Arguments = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Arguments[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestSecretKeepsValuesInData(t *testing.T) {
	s, err := Secret("mnist-storage", map[string]string{"AWS_ACCESS_KEY_ID": "minio"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Object["data"].(map[string]any)["AWS_ACCESS_KEY_ID"]; got != "bWluaW8=" {
		t.Errorf("data = %v, want base64 of minio", got)
	}
	if _, ok := s.Object["stringData"]; ok {
		t.Error("stringData is set: re-applying it would never be a no-op")
	}
}
