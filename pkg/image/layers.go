package image

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// epoch is the modification time of every entry: the same inputs give the same bytes.
var epoch = time.Unix(0, 0).UTC()

// Layers returns the model's layers, dependencies first and code last; a layer with no files
// is left out. Entries are sorted, owned by root, dated at the Unix epoch, with modes 0644,
// 0755 for executables and directories, so the same inputs give the same digests. Each layer
// is written once, compressed, to a file under dir, hashing as it goes.
func (in *Inputs) Layers(dir string) ([]NamedLayer, error) {
	var out []NamedLayer
	for _, name := range []string{LayerDeps, LayerCode} {
		var files []File
		for _, f := range in.Files {
			if f.Layer == name {
				files = append(files, f)
			}
		}
		if len(files) == 0 {
			continue
		}
		l, err := writeLayer(dir, name, files)
		if err != nil {
			return nil, fmt.Errorf("writing the %s layer: %w", name, err)
		}
		out = append(out, NamedLayer{Name: name, Layer: l, Files: len(files)})
	}
	return out, nil
}

// writeLayer writes files as a gzipped tar under dir, computing the digests of the compressed
// and uncompressed streams in the same pass. The tar (reading, verifying and hashing the
// files) and the compression (with its digest and the file write) run side by side, a core
// each.
func writeLayer(dir, name string, files []File) (*fileLayer, error) {
	f, err := os.CreateTemp(dir, "layer-"+name+"-*.tar.gz")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	compressed, uncompressed := sha256.New(), sha256.New()
	counter := &countWriter{w: io.MultiWriter(f, compressed)}
	if err := compressParallel(counter, func(w io.Writer) error {
		// The uncompressed digest is taken in a goroutine of its own, beside the reading.
		hr, hw := io.Pipe()
		hashed := make(chan struct{})
		go func() {
			defer close(hashed)
			_, _ = io.Copy(uncompressed, hr)
		}()
		err := writeTar(io.MultiWriter(w, hw), strings.TrimPrefix(WorkDir, "/"), files, nil)
		hw.CloseWithError(err)
		<-hashed
		return err
	}); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &fileLayer{
		path:   f.Name(),
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressed.Sum(nil))},
		size:   counter.n,
	}, nil
}

// pipeChunk is how much of the tar stream the compressing goroutine takes at a time.
const pipeChunk = 256 << 10

// compressParallel gzips what produce writes to w, the producer in a goroutine of its own.
// The output is the same as compressing in one goroutine: gzip at BestSpeed, whose bytes
// depend only on the input.
func compressParallel(w io.Writer, produce func(io.Writer) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(pw, pipeChunk)
		err := produce(bw)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	zw, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		pr.CloseWithError(err)
		<-done
		return err
	}
	_, copyErr := io.CopyBuffer(zw, pr, make([]byte, pipeChunk))
	pr.CloseWithError(copyErr) // unblocks the producer when the copy failed
	if err := <-done; err != nil {
		return err
	}
	if copyErr != nil {
		return copyErr
	}
	return zw.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// fileLayer is a compressed layer in a file whose digests are known.
type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return uncompress(l.path) }

func uncompress(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// NamedLayer is a layer with the name of its group of files.
type NamedLayer struct {
	Name  string
	Layer v1.Layer
	Files int
}

// extra is a generated file added to an archive (the Dockerfile of a build context).
type extra struct {
	name string
	data []byte
}

// writeTar writes files under prefix (and extras at the root) as a reproducible tar to w.
func writeTar(w io.Writer, prefix string, files []File, extras []extra) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	var entries []string
	for _, f := range files {
		for d := path.Dir(path.Join(prefix, f.Path)); d != "." && d != "/" && d != ""; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		entries = append(entries, d)
	}
	slices.Sort(entries)
	for _, d := range entries {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, e := range extras {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	for _, f := range files {
		mode := int64(0o644)
		if f.Executable {
			mode = 0o755
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join(prefix, f.Path), Mode: mode, Size: f.Size, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := copyFile(tw, f); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyFile copies a file's content, failing when it changed since it was hashed (the
// checksum would describe other content).
func copyFile(w io.Writer, f File) error {
	fh, err := os.Open(f.Source)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(fh, f.Size))
	if err != nil {
		return err
	}
	if n != f.Size || hex.EncodeToString(h.Sum(nil)) != f.Digest {
		return fmt.Errorf("%s changed while the image was built; build again", f.Path)
	}
	return nil
}

// Dockerfile is the build recipe of the cluster builder: the base image, the requirements
// installed with pip in their own step, then the files, the labels and the entrypoint.
func (in *Inputs) Dockerfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\nWORKDIR %s\n", in.BaseImage, WorkDir)
	if in.Requirements != "" {
		fmt.Fprintf(&b, "COPY %s %s\nRUN pip install --no-cache-dir -r %s\n", quoteJSON(in.Requirements), quoteJSON(in.Requirements), quoteJSON(in.Requirements))
	}
	fmt.Fprintf(&b, "COPY . .\n")
	labels := in.Labels()
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "LABEL %s=%s\n", k, quoteJSON(labels[k]))
	}
	fmt.Fprintf(&b, "ENTRYPOINT [%s, %s]\n", quoteJSON("python"), quoteJSON(in.MainFile))
	return b.String()
}

func quoteJSON(s string) string { return fmt.Sprintf("%q", s) }

// DockerfileName is the generated Dockerfile's name at the root of a build context, beside the
// model's files; Context refuses a model file of that name.
const DockerfileName = "Dockerfile.kaptain"

// Context writes the cluster builder's build context: the model's files at their paths and
// the generated Dockerfile, as a reproducible gzipped tar.
func (in *Inputs) Context(w io.Writer) error {
	for _, f := range in.Files {
		if f.Path == DockerfileName || f.Path == ".dockerignore" {
			return fmt.Errorf("the model has a file named %s, which the build context needs for its own; rename it", f.Path)
		}
	}
	return compressParallel(w, func(tw io.Writer) error {
		return writeTar(tw, "", in.Files, []extra{
			{name: ".dockerignore", data: []byte(".dockerignore\n" + DockerfileName + "\n")},
			{name: DockerfileName, data: []byte(in.Dockerfile())},
		})
	})
}
