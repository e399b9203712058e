package workload

import (
	"testing"

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
