package model

import (
	"strings"
	"testing"
)

func TestImageRef(t *testing.T) {
	for _, tc := range []struct{ image, url, want string }{
		{"kaptain/mnist:1", "", "kaptain/mnist:1"},
		{"kaptain/mnist:1", "registry.example.com:5000", "registry.example.com:5000/kaptain/mnist:1"},
		{"kaptain/mnist:1", "https://registry.example.com/", "registry.example.com/kaptain/mnist:1"},
		{"mnist", "http://127.0.0.1:5000", "127.0.0.1:5000/mnist"},
		{"other.example.com/kaptain/mnist:1", "registry.example.com", "other.example.com/kaptain/mnist:1"},
		{"localhost/mnist:1", "registry.example.com", "localhost/mnist:1"},
		{"127.0.0.1:5000/mnist:1", "registry.example.com", "127.0.0.1:5000/mnist:1"},
	} {
		m := &Model{Spec: Spec{Image: tc.image, Config: Config{Registry: Registry{URL: tc.url}}}}
		if got := m.ImageRef(); got != tc.want {
			t.Errorf("ImageRef(%q, url %q) = %q, want %q", tc.image, tc.url, got, tc.want)
		}
	}
}

func TestNamesAndURIs(t *testing.T) {
	m := &Model{Spec: Spec{ID: "dev/mnist", Config: Config{ModelStorageURI: "s3://kaptain/models/"}}}
	for _, tc := range []struct{ name, got, want string }{
		{"JobName", m.JobName(ActionTrain, "7B93-C1D2-0000"), KubeName("dev/mnist") + "-train-7b93c1"},
		{"TrainedURI", m.TrainedURI("r1"), "s3://kaptain/models/dev/mnist/trained/r1"},
		{"TunedURI", m.TunedURI("r1", "t-1"), "s3://kaptain/models/dev/mnist/tuned/r1/t-1"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	uri, err := m.BuildContextURI("abc")
	if want := "s3://kaptain/models/" + m.KubeName() + "/build/abc.tar.gz"; err != nil || uri != want {
		t.Errorf("BuildContextURI = %q, %v; want %q", uri, err, want)
	}
	m.Spec.Config.ModelStorageURI = "gs://x"
	if _, err := m.BuildContextURI("abc"); err == nil {
		t.Error("BuildContextURI of a non-S3 storage URI: no error")
	}
	labels := m.Labels("r1", ActionTune)
	if !IsManaged(labels) || labels[LabelRevision] != "r1" || labels[LabelAction] != "tune" || labels[LabelModel] != m.KubeName() {
		t.Errorf("Labels = %v", labels)
	}
}

func TestScaffoldLoads(t *testing.T) {
	data, err := Scaffold(ScaffoldOptions{ID: "dev/mnist", Name: "mnist", Framework: "pytorch", FrameworkVersion: "2.3.1",
		Image: "registry.example.com/kaptain/mnist:0.0.1", BaseImage: "pytorch/pytorch:2.3.1", MainFile: "trainer.py"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse("kaptain.yaml", data)
	if err != nil {
		t.Fatalf("the scaffold does not load: %v\n%s", err, data)
	}
	if m.Spec.ID != "dev/mnist" || m.Spec.Framework != "pytorch" || m.Spec.Config.ModelStorageURI != DefaultModelStorageURI {
		t.Errorf("scaffold loads as %+v", m.Spec)
	}
}

func TestJobNameWithin(t *testing.T) {
	m := &Model{Spec: Spec{ID: "a-very-long-model-identifier-that-goes-on-and-on"}}
	full := m.JobName(ActionTrain, "7b93c1aa-0000")
	if got := m.JobNameWithin(ActionTrain, "7b93c1aa-0000", 63); got != full {
		t.Errorf("within 63: %q, want %q", got, full)
	}
	got := m.JobNameWithin(ActionTrain, "7b93c1aa-0000", 40)
	if len(got) > 40 || !strings.HasSuffix(got, "-train-7b93c1") || !strings.HasPrefix(got, "a-very-long") || strings.Contains(got, "--") {
		t.Errorf("within 40: %q (%d characters)", got, len(got))
	}
}

func TestParseRuntime(t *testing.T) {
	for in, want := range map[string]string{
		"torch-distributed":                "ClusterTrainingRuntime/torch-distributed",
		"trainingruntime/my-tf":            "TrainingRuntime/my-tf",
		"TrainingRuntimes/my-tf":           "TrainingRuntime/my-tf",
		"clustertrainingruntime/deepspeed": "ClusterTrainingRuntime/deepspeed",
		"job/x":                            "error",
		"Bad_Name":                         "error",
		"trainingruntime/":                 "error",
	} {
		kind, name, err := ParseRuntime(in)
		got := kind + "/" + name
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseRuntime(%q) = %s (%v), want %s", in, got, err, want)
		}
	}
}
