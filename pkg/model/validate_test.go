package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// modelYAML is a valid kaptain.yaml whose spec ends with extra, indented under spec.
func modelYAML(id, extra string) string {
	return `apiVersion: kaptain.dev/v1alpha1
kind: Model
spec:
  id: ` + id + `
  name: MNIST
  description: d
  version: "1"
  framework: pytorch
  frameworkVersion: "2.3"
  mainFile: trainer.py
  image: mnist:1
  baseImage: pytorch/pytorch:2.3.1
` + extra
}

func TestParseModelID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want string // "" when the id is valid
	}{
		{id: "dev/mnist"},
		{id: "mnist"},
		{id: "team.a/model_1-v2"},
		{id: "dev/mnist.v1..2"},
		{id: `"dev/../prod/mnist"`, want: `has the path segment ".."`},
		{id: `"../mnist"`, want: `has the path segment ".."`},
		{id: `"dev/./mnist"`, want: `has the path segment "."`},
		{id: `"dev/mnist?v=1"`, want: `contains '?'`},
		{id: `"dev/mnist#1"`, want: `contains '#'`},
		{id: `"dev/mnist%2F1"`, want: `contains '%'`},
		{id: `'dev\mnist'`, want: `contains '\\'`},
		{id: `"/dev/mnist"`, want: "has an empty path segment"},
		{id: `"dev/mnist/"`, want: "has an empty path segment"},
		{id: `"dev//mnist"`, want: "has an empty path segment"},
		// The audit's N3: the kubelet expands $(VAR) in the storage initializer's arguments.
		{id: `"dev/$(AWS_SECRET_ACCESS_KEY)"`, want: `contains '$', which the kubelet`},
		{id: "'dev/`id`'", want: "contains '`'"},
		{id: `"dev/it's"`, want: `contains '\''`},
	} {
		t.Run(tc.id, func(t *testing.T) {
			_, err := Parse("kaptain.yaml", []byte(modelYAML(tc.id, "")))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse refused the id: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Parse accepted the id")
			}
			if sdkerr.ClassOf(err) != sdkerr.InvalidModelProperty {
				t.Errorf("class %s, want %s", sdkerr.ClassOf(err), sdkerr.InvalidModelProperty)
			}
			for _, part := range []string{"kaptain.yaml:4: spec.id: ", tc.want, "such as dev/mnist"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error = %q\nwant it to contain %q", err, part)
				}
			}
		})
	}
}

func TestParseHyperparameterValues(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        any    // the decoded value, when valid
		err         string // part of the error, when refused
	}{
		{name: "float", value: "0.01", want: 0.01},
		{name: "exponent", value: "1e-3", want: 0.001},
		{name: "int", value: "3", want: 3},
		{name: "negative int", value: "-3", want: -3},
		{name: "hex int", value: "0x10", want: 16},
		{name: "largest int64", value: "9223372036854775807", want: 9223372036854775807},
		{name: "string", value: "adam", want: "adam"},
		{name: "quoted date", value: `"2024-01-01"`, want: "2024-01-01"},
		{name: "quoted big integer", value: `"123456789012345678901234567890"`, want: "123456789012345678901234567890"},
		{name: "bool", value: "true", want: true},
		{name: "yes is a string", value: "yes", want: "yes"},
		{name: "explicit float", value: "!!float 3", want: 3.0},
		{name: "null", value: "~", want: nil},
		{name: "timestamp", value: "2024-01-01", err: `kaptain.yaml:14: spec.hyperparameters.x: 2024-01-01 reads as a YAML timestamp, which would reach the trainer reformatted; quote it ("2024-01-01")`},
		{name: "timestamp with time", value: "2024-01-01T10:00:00Z", err: `reads as a YAML timestamp`},
		{name: "integer beyond float precision", value: "123456789012345678901234567890", err: `spec.hyperparameters.x: 123456789012345678901234567890 is an integer too large for 64 bits and would lose digits as a float; quote it`},
		{name: "integer beyond int64", value: "18446744073709551615", err: `spec.hyperparameters.x: 18446744073709551615 is an integer too large for 64 bits; quote it`},
		{name: "binary", value: "!!binary aGk=", err: `spec.hyperparameters.x: expected a number, string or boolean, got a YAML !!binary value; remove the tag, or quote it`},
		{name: "custom tag", value: "!secret x", err: `got a YAML !secret value`},
		{name: "NaN", value: ".nan", err: `spec.hyperparameters.x: NaN is not a finite number`},
		{name: "infinity", value: "-.inf", err: `spec.hyperparameters.x: -Inf is not a finite number`},
		// Strings a trainer's float() reads as NaN or infinite.
		{name: "NaN as text", value: "NaN", err: `spec.hyperparameters.x: "NaN" reads as a number that is not finite`},
		{name: "quoted infinity", value: `"+Inf"`, err: `"+Inf" reads as a number that is not finite`},
		{name: "infinity spelt out", value: `"-infinity"`, err: `reads as a number that is not finite`},
		{name: "beyond float64", value: `"1e999"`, err: `"1e999" reads as a number that is not finite`},
		{name: "a word that starts like one", value: "info", want: "info"},
		{name: "list", value: "[1, 2]", err: `expected a number, string or boolean, got a list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse("kaptain.yaml", []byte(modelYAML("dev/mnist", "  hyperparameters:\n    x: "+tc.value+"\n")))
			if tc.err != "" {
				if err == nil {
					t.Fatalf("accepted, as %#v", m.Spec.Hyperparameters["x"])
				}
				if !strings.Contains(err.Error(), tc.err) || sdkerr.ClassOf(err) != sdkerr.InvalidModelProperty {
					t.Errorf("error = %q (%s)\nwant it to contain %q", err, sdkerr.ClassOf(err), tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Spec.Hyperparameters["x"]; got != tc.want {
				t.Errorf("x = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseRefusesCredentialsInURLs(t *testing.T) {
	const password = "s3cr3t-Pa55"
	for _, tc := range []struct {
		name, config, field, hint string
	}{
		{"endpoint", "storage: {endpoint: 'https://minio:" + password + "@minio.example.com:9000'}", "spec.config.storage.endpoint", "AWS_SECRET_ACCESS_KEY"},
		{"endpoint with a path", "storage: {endpoint: 'http://AKIA:" + password + "@10.0.0.1/s3'}", "spec.config.storage.endpoint", "AWS_SECRET_ACCESS_KEY"},
		{"endpoint without a scheme", "storage: {endpoint: 'minio:" + password + "@minio:9000'}", "spec.config.storage.endpoint", "AWS_SECRET_ACCESS_KEY"},
		{"endpoint that is not a URL", "storage: {endpoint: 'https://minio:" + password + "%zz@minio'}", "spec.config.storage.endpoint", "AWS_SECRET_ACCESS_KEY"},
		{"model storage URI", "modelStorageURI: 's3://AKIA:" + password + "@kaptain/models'", "spec.config.modelStorageURI", "AWS_SECRET_ACCESS_KEY"},
		{"registry", "registry: {url: 'https://robot:" + password + "@registry.example.com'}", "spec.config.registry.url", "dockerConfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("kaptain.yaml", []byte(modelYAML("dev/mnist", "  config:\n    "+tc.config+"\n")))
			if err == nil {
				t.Fatal("Parse accepted credentials in the URL")
			}
			msg := err.Error()
			if strings.Contains(msg, password) {
				t.Errorf("the error shows the password: %s", msg)
			}
			for _, part := range []string{tc.field + ": has credentials (user:password@)", tc.hint} {
				if !strings.Contains(msg, part) {
					t.Errorf("error = %q\nwant it to contain %q", msg, part)
				}
			}
		})
	}
	if _, err := Parse("kaptain.yaml", []byte(modelYAML("dev/mnist", "  config:\n    storage: {endpoint: 'http://minio:9000/path@x'}\n"))); err != nil {
		t.Errorf("an '@' in the path is not a credential: %v", err)
	}
}

func TestLoadFileResolvesRegistryPathsAgainstItsDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	abs := filepath.Join(t.TempDir(), "ca.crt")
	for _, tc := range []struct {
		name, written, want string
	}{
		{"relative", "auth/config.json", filepath.Join(dir, "auth", "config.json")},
		{"dot relative", "./ca.crt", filepath.Join(dir, "ca.crt")},
		{"parent", "../shared/ca.crt", filepath.Join(filepath.Dir(dir), "shared", "ca.crt")},
		{"absolute", abs, abs},
		{"home", "~/.docker/config.json", "~/.docker/config.json"},
		{"unset", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "kaptain.yaml")
			data := modelYAML("dev/mnist", "  config:\n    registry: {dockerConfig: '"+tc.written+"', certificate: '"+tc.written+"'}\n")
			if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if r := m.Spec.Config.Registry; r.DockerConfig != tc.want || r.Certificate != tc.want {
				t.Errorf("dockerConfig %q, certificate %q; want %q", r.DockerConfig, r.Certificate, tc.want)
			}
		})
	}
}

// TestStorageURIsCarryNoVariables: a model URI given or recorded cannot smuggle $(VAR) into
// container arguments (the audit's N3), and one read from the record must be under the
// model's own storage.
func TestStorageURIsCarryNoVariables(t *testing.T) {
	for _, uri := range []string{"s3://kaptain/dev/$(AWS_SECRET_ACCESS_KEY)", "s3://kaptain/x`id`", "s3://kaptain/a b", "s3://kaptain/a\x1b[2J"} {
		if _, _, err := ParseStorageURI(uri); err == nil {
			t.Errorf("ParseStorageURI(%q) accepted it", uri)
		}
	}
	m := &Model{Spec: Spec{ID: "dev/mnist", Config: Config{ModelStorageURI: "s3://kaptain/models/"}}}
	for uri, want := range map[string]string{
		m.TrainedURI("r1"):                            "",
		m.TunedURI("r2", "t-1"):                       "",
		"s3://other/dev/mnist/trained/r1":             "not under the model's storage s3://kaptain/models/dev/mnist/",
		"s3://kaptain/models/dev/mnistx/trained/r1":   "not under",
		"s3://kaptain/models/dev/mnist/../prod/x":     "not under",
		"s3://kaptain/models/dev/mnist/$(X)":          "contains \"$\"",
		"https://kaptain/models/dev/mnist/trained/r1": "not an s3://bucket/path URI",
	} {
		err := m.CheckStoredURI(uri)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckStoredURI(%q) = %v, want %q", uri, err, want)
		}
	}
}
