package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// outsideSentinel is the content of a file beside the model's directory: no archive may hold it.
const outsideSentinel = "kaptain fuzz: a file outside the model's directory"

// FuzzContext: for any file names in a model directory, any main file, extra files and
// symbolic links (to a file and a directory outside it, also as baseDir), every entry of the build context and
// of the layers is a local path (under app/ for a layer), and nothing outside the model's
// directory is read.
func FuzzContext(f *testing.F) {
	f.Add("trainer.py\nutils.py\ndata/a.csv\ndata/sub/b.csv", "trainer.py", "utils.py\ndata", "")
	f.Add("trainer.py", "trainer.py", "./..\n../outside/secret\n/etc/passwd", "")
	f.Add("trainer.py\ndata/a.csv", "trainer.py", "keys\nenv\ndata", "keys\ndata/env")
	f.Add("trainer.py", "env", "", "env")
	f.Add("trainer.py", "keys/secret", "", "x\nkeys")
	f.Add("trainer.py", "keys/trainer.py", "", "x\nx\nx\nkeys")
	f.Add("a b/$HOME's \"x\".py\n.dockerignore\nDockerfile.kaptain\n..a/..b", "a b/$HOME's \"x\".py", ".dockerignore\n..a", "")
	f.Add("app/../trainer.py\nx\\..\\y.py\n\u00e9/\u2028.py", "app/../trainer.py", "x\\..\\y.py\n\u00e9", "")
	f.Fuzz(func(t *testing.T, files, mainFile, extraFiles, links string) {
		root := t.TempDir()
		dir, outside := filepath.Join(root, "model"), filepath.Join(root, "outside")
		for _, d := range []string{dir, outside} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		secret := filepath.Join(outside, "secret")
		if err := os.WriteFile(secret, []byte(outsideSentinel), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, name := range strings.Split(files, "\n") {
			// Files are only ever written inside the model's directory; names the OS refuses
			// are skipped.
			if !filepath.IsLocal(name) {
				continue
			}
			p := filepath.Join(dir, name)
			if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
				_ = os.WriteFile(p, []byte("content of "+name), 0o644)
			}
		}
		for i, name := range strings.Split(links, "\n") {
			if !filepath.IsLocal(name) {
				continue
			}
			p := filepath.Join(dir, name)
			target := []string{secret, outside, "/proc/self/environ"}[i%3]
			if os.MkdirAll(filepath.Dir(p), 0o755) == nil {
				_ = os.Symlink(target, p)
			}
		}
		var extras []string
		if extraFiles != "" {
			extras = strings.Split(extraFiles, "\n")
		}
		// The model is read from dir's kaptain.yaml; a main file in a subdirectory makes that
		// directory, perhaps a link, its baseDir.
		base := dir
		if sub, rest, ok := strings.Cut(mainFile, "/"); ok && filepath.IsLocal(sub) {
			base, mainFile = filepath.Join(dir, sub), rest
		}
		m := &model.Model{Path: filepath.Join(dir, "kaptain.yaml"),
			Spec: model.Spec{ID: "dev/fuzz", MainFile: mainFile, ExtraFiles: extras, BaseImage: "scratch", Config: model.Config{BaseDir: base}}}
		in, err := Collect(m)
		if err != nil {
			return
		}
		var context bytes.Buffer
		if err := in.Context(&context); err == nil {
			checkArchive(t, "build context", &context, "")
		}
		for _, g := range in.groups() {
			var layer bytes.Buffer
			if _, err := writeLayer(&layer, g.files, g.stored, nil); err != nil {
				continue
			}
			checkArchive(t, g.name+" layer", &layer, strings.TrimPrefix(WorkDir, "/")+"/")
		}
	})
}

// checkArchive fails the test when an entry of the tar r (gzipped or not) is not a local path under
// prefix, or holds the file outside the model's directory.
func checkArchive(t *testing.T, what string, r io.Reader, prefix string) {
	t.Helper()
	br := bufio.NewReader(r)
	var tarStream io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		tarStream = zr
	}
	tr := tar.NewReader(tarStream)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		rest, ok := strings.CutPrefix(hdr.Name, prefix)
		if rest = strings.TrimSuffix(rest, "/"); !ok || rest == "" && hdr.Typeflag != tar.TypeDir {
			t.Fatalf("%s: entry %q is not under %q", what, hdr.Name, prefix)
		}
		if rest != "" && !filepath.IsLocal(filepath.FromSlash(rest)) {
			t.Fatalf("%s: entry %q is not a local path", what, hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if bytes.Contains(data, []byte(outsideSentinel)) {
			t.Fatalf("%s: entry %q holds a file from outside the model's directory", what, hdr.Name)
		}
	}
}
