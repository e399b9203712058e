package model

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// The invalid kaptain.yaml cases are shared with the integration tests: each file's first
// lines say "# exit: N" and "# error: message".
const invalidDir = "../../test/testdata/invalid"

func TestParseRejectsEveryInvalidModel(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(invalidDir, "*.yaml"))
	if err != nil || len(paths) < 15 {
		t.Fatalf("want at least 15 cases, found %d (%v)", len(paths), err)
	}
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(data), "\n", 3)
			code, _ := strconv.Atoi(strings.TrimPrefix(lines[0], "# exit: "))
			want := strings.TrimPrefix(lines[1], "# error: ")
			_, err = Parse(name, data)
			if code == sdkerr.ModelValidation.ExitCode() {
				// A valid model that the action refuses (e.g. train of sklearn).
				if err != nil {
					t.Fatalf("Parse: %v, want a valid model", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse accepted the model")
			}
			if got := sdkerr.ExitCode(err); got != code {
				t.Errorf("exit code %d (%s), want %d", got, sdkerr.ClassOf(err), code)
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error = %q\nwant it to contain %q", err, want)
			}
		})
	}
}

func TestLoadFileExamples(t *testing.T) {
	for _, tc := range []struct {
		path, framework, kubeName string
		params                    int
	}{
		{"../../examples/mnist-tensorflow/kaptain.yaml", "tensorflow", "dev-mnist-tensorflow-4bd4aad1", 3},
		{"../../examples/mnist-pytorch/kaptain.yaml", "pytorch", "dev-mnist-pytorch-e374366a", 3},
	} {
		m, err := LoadFile(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if m.Spec.Framework != tc.framework || m.KubeName() != tc.kubeName || len(m.Spec.Hyperparameters) != tc.params {
			t.Errorf("%s: framework %s, name %s, %d hyperparameters", tc.path, m.Spec.Framework, m.KubeName(), len(m.Spec.Hyperparameters))
		}
		if want, _ := filepath.Abs(filepath.Dir(tc.path)); !sameDir(m.Spec.Config.BaseDir, want) {
			t.Errorf("%s: baseDir %s, want the file's directory %s", tc.path, m.Spec.Config.BaseDir, want)
		}
	}
}

func sameDir(a, b string) bool {
	aa, _ := filepath.Abs(a)
	return aa == b
}

func TestDecodeValues(t *testing.T) {
	m, err := Parse("k.yaml", []byte(`apiVersion: kaptain.dev/v1alpha1
kind: Model
spec:
  id: dev/mnist
  name: MNIST
  description: d
  version: 1.0
  framework: pytorch
  frameworkVersion: 2.3
  mainFile: trainer.py
  image: mnist:1
  baseImage: pytorch/pytorch:2.3.1
  hyperparameters: {lr: 0.01, layers: 3, optimizer: adam, nesterov: true}
  serving: {minReplicas: 1, maxReplicas: 0x3}
  config:
    storage: {forcePathStyle: yes}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := m.Spec
	if s.Version != "1.0" || s.FrameworkVersion != "2.3" {
		t.Errorf("version %q, frameworkVersion %q: numbers must read as written", s.Version, s.FrameworkVersion)
	}
	if s.Hyperparameters["lr"] != 0.01 || s.Hyperparameters["layers"] != 3 || s.Hyperparameters["optimizer"] != "adam" || s.Hyperparameters["nesterov"] != true {
		t.Errorf("hyperparameters = %#v", s.Hyperparameters)
	}
	if *s.Serving.MaxReplicas != 3 || !s.Config.Storage.ForcePathStyle {
		t.Errorf("maxReplicas %d, forcePathStyle %v", *s.Serving.MaxReplicas, s.Config.Storage.ForcePathStyle)
	}
	if s.Config.ModelStorageURI != DefaultModelStorageURI || s.Config.Storage.Region != "us-east-1" {
		t.Errorf("defaults: modelStorageURI %q, region %q", s.Config.ModelStorageURI, s.Config.Storage.Region)
	}
	if m.Line("spec.hyperparameters") != 13 {
		t.Errorf("line of spec.hyperparameters = %d, want 13", m.Line("spec.hyperparameters"))
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"mainFile", "extraFiles", "frameworkVersion", "image", "baseImage"}
	for in, want := range map[string]string{
		"main_file":         "mainFile",
		"mainfile":          "mainFile",
		"framework_version": "frameworkVersion",
		"image_name":        "",
		"imag":              "image",
		"extra_file":        "extraFiles",
		"completely-off":    "",
	} {
		if got := Suggest(in, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, dir := range []string{invalidDir, "../../examples/mnist-tensorflow", "../../examples/mnist-pytorch"} {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse("kaptain.yaml", data)
		if err != nil {
			if sdkerr.ClassOf(err) != sdkerr.InvalidModelProperty && sdkerr.ClassOf(err) != sdkerr.UndefinedModelProperty {
				t.Fatalf("error of class %s: %v", sdkerr.ClassOf(err), err)
			}
			if !strings.HasPrefix(err.Error(), "kaptain.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// A model that loads has every required property and a valid Kubernetes name.
		if m.Spec.ID == "" || m.Spec.Image == "" || m.Spec.Framework == "" {
			t.Fatalf("accepted a model without required fields: %+v", m.Spec)
		}
		if n := m.KubeName(); len(n) > 39 || n == "" {
			t.Fatalf("KubeName(%q) = %q", m.Spec.ID, n)
		}
		// The id is usable as written in S3 keys and URIs.
		for _, seg := range strings.Split(m.Spec.ID, "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, `?#%\`) {
				t.Fatalf("accepted the id %q", m.Spec.ID)
			}
		}
		// Hyperparameters reach the trainer as written: strings, 64-bit integers, floats, booleans.
		for k, v := range m.Spec.Hyperparameters {
			switch v.(type) {
			case nil, string, int, int64, float64, bool:
			default:
				t.Fatalf("hyperparameter %s decoded to %T %v", k, v, v)
			}
		}
		if hasUserinfo(m.Spec.Config.Storage.Endpoint) || hasUserinfo(m.Spec.Config.Registry.URL) {
			t.Fatalf("accepted credentials in %q or %q", m.Spec.Config.Storage.Endpoint, m.Spec.Config.Registry.URL)
		}
		// Every file it names, and its base directory, stays inside the model's directory.
		paths := append([]string{m.Spec.MainFile, m.Spec.Requirements, m.Spec.Config.BaseDir}, m.Spec.ExtraFiles...)
		for _, p := range paths {
			if p != "" && p != "." && (!filepath.IsLocal(filepath.Clean(p)) || !filepath.IsLocal(filepath.Clean(filepath.FromSlash(p)))) {
				t.Fatalf("accepted the path %q, which is not inside the model's directory", p)
			}
		}
	})
}
