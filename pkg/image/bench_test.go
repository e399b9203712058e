package image

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// BenchmarkLayers50MB collects and layers a model with 50 files of 1 MB of random bytes, as
// hack/bench-build.sh pushes it: hashing, tar, gzip and the layer digests, without the push.
func BenchmarkLayers50MB(b *testing.B) {
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1_000_000)
	for i := range 50 {
		_, _ = rand.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, "data", fmt.Sprintf("part-%02d.bin", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "trainer.py"), []byte("print('train')\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	m := &model.Model{Path: filepath.Join(dir, "kaptain.yaml"), Spec: model.Spec{ID: "bench/model", Version: "1", Framework: "tensorflow",
		FrameworkVersion: "2.16.1", MainFile: "trainer.py", ExtraFiles: []string{"data"}, Image: "bench:1", BaseImage: "scratch",
		Config: model.Config{BaseDir: dir}}}
	b.SetBytes(50_000_000)
	b.ResetTimer()
	for range b.N {
		in, err := Collect(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := in.Layers(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}
