package workload

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kaptain-dev/kubectl-kaptain/internal/golden"
)

func TestBuildObjectsGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build Build
	}{
		{"build-minimal", Build{Name: "dev-mnist-build-abc123", Context: "s3://kaptain/models/dev-mnist/build/ctx.tar.gz", Dockerfile: "Dockerfile.kaptain", Destination: "registry.example.com/kaptain/mnist:0.0.1"}},
		{"build-full", Build{
			Name: "dev-mnist-build-abc123", BuilderImage: "example.com/executor:1", Context: "s3://kaptain/models/dev-mnist/build/ctx.tar.gz",
			Dockerfile: "Dockerfile.kaptain", Destination: "registry.example.com:5000/kaptain/mnist:0.0.1", Registry: "registry.example.com:5000",
			DockerConfigJSON: []byte(`{"auths":{}}`), StorageSecret: "dev-mnist-build-abc123-storage", RegistryCA: []byte("-----BEGIN CERTIFICATE-----\n"),
			Resources: Resources{CPURequest: "500m", CPULimit: "2", MemoryRequest: "1Gi", MemoryLimit: "4Gi"}, Timeout: time.Hour,
		}},
		{"build-insecure", Build{Name: "b", Context: "s3://b/k", Dockerfile: "Dockerfile.kaptain", Destination: "127.0.0.1:5000/m:1", Registry: "127.0.0.1:5000", Insecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := BuildObjects(tc.build)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			for _, obj := range objs {
				b, _ := yaml.Marshal(obj.Object)
				out.WriteString("---\n")
				out.Write(b)
			}
			golden.Assert(t, filepath.Join("testdata", tc.name+".yaml"), out.Bytes())
		})
	}
	if _, err := BuildObjects(Build{Name: "x"}); err == nil {
		t.Fatal("a build without context and destination was accepted")
	}
	if _, err := BuildObjects(Build{Name: "x", Context: "s3://b/k", Destination: "d", Resources: Resources{CPULimit: "lots"}}); err == nil {
		t.Fatal("a malformed CPU limit was accepted")
	}
}
