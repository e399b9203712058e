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
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// epoch is the modification time of every entry: the same inputs give the same bytes.
var epoch = time.Unix(0, 0).UTC()

// layerFormat names how layers are written; it is part of every content key, so a change of
// format never reuses a digest written by another. v2: a large extra file in a layer of its
// own, stored (gzip at level 0) when a sample of it does not compress.
const layerFormat = "kaptain-layer v2"

// LargeFile is the size from which an extra file (a checkpoint shard, a weights file) goes
// into a layer of its own: a changed shard then pushes that layer alone.
const LargeFile = 32 << 20

// layerGroup is one layer's files, and whether they are stored or compressed.
type layerGroup struct {
	name  string
	files []File
	// stored layers are written by gzip at level 0 (NoCompression): stored blocks, the bytes as
	// they are, in the gzip media type every runtime and builder takes (and that
	// go-containerregistry's validate.Image reads: it gunzips every layer, so a plain tar layer,
	// which would save one hash of the bytes, does not pass it).
	stored bool
}

// deferred reports whether some of the group's files are not hashed yet.
func (g layerGroup) deferred() bool {
	for _, f := range g.files {
		if f.Digest == "" {
			return true
		}
	}
	return false
}

// level is the gzip level of the group's layer.
func (g layerGroup) level() int { return gzipLevel(g.stored) }

func gzipLevel(stored bool) int {
	if stored {
		return gzip.NoCompression
	}
	return gzip.BestSpeed
}

// groups returns the model's files by layer: the dependency layer's small files, then each
// large extra file (LargeFile, or in.largeFile when set) in a layer of its own by path, then
// the code; a layer with no files is left out. A large file whose sample does not compress is
// stored, and so is the small files' layer when its largest file's sample does not.
func (in *Inputs) groups() []layerGroup {
	large := int64(LargeFile)
	if in.largeFile > 0 {
		large = in.largeFile
	}
	var small, code []File
	var out []layerGroup
	for _, f := range in.Files {
		switch {
		case f.Layer == LayerCode:
			code = append(code, f)
		case f.Size >= large:
			out = append(out, layerGroup{name: LayerDeps + ":" + f.Path, files: []File{f}, stored: incompressible(f)})
		default:
			small = append(small, f)
		}
	}
	if len(small) > 0 {
		// The small files' layer is judged by its largest file: data files, often of one kind.
		largest := small[0]
		for _, f := range small {
			if f.Size > largest.Size {
				largest = f
			}
		}
		stored := largest.Size >= compressionSample/16 && incompressible(largest)
		out = append([]layerGroup{{name: LayerDeps, files: small, stored: stored}}, out...)
	}
	if len(code) > 0 {
		out = append(out, layerGroup{name: LayerCode, files: code})
	}
	return out
}

// compressionSample is how much of a large file is compressed to decide whether it pays.
const compressionSample = 1 << 20

// incompressible reports whether a large file's layer is better stored than gzipped: a
// sample from its middle does not compress to less than 90% (weights, already-compressed
// archives). A stored layer is written at the speed of the disk. A file that cannot be read
// is compressed (its copy reports the error).
func incompressible(f File) bool {
	fh, err := f.root.Open(filepath.FromSlash(f.Path))
	if err != nil {
		return false
	}
	defer fh.Close()
	sample := make([]byte, min(compressionSample, f.Size))
	if _, err := fh.ReadAt(sample, (f.Size-int64(len(sample)))/2); err != nil {
		return false
	}
	var out countWriter
	out.w = io.Discard
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	_, _ = zw.Write(sample)
	_ = zw.Close()
	return out.n*10 >= int64(len(sample))*9
}

// key is the layer's content key: a hex sha256 over the layer format, the work directory, the
// gzip level and each file's path, mode, size and content digest. Two layers with one key have
// the same bytes.
func (g layerGroup) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nworkdir %s\nlevel %d\n", layerFormat, WorkDir, g.level())
	for _, f := range g.files {
		fmt.Fprintf(h, "file %q %t %d %s\n", f.Path, f.Executable, f.Size, f.Digest)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Layers writes the model's layers, dependencies first and code last, each compressed into a
// file under dir with its digests. Entries are sorted, owned by root, dated at the Unix epoch,
// with modes 0644, 0755 for executables and directories, so the same inputs give the same
// digests. Build streams its layers to the registry instead.
func (in *Inputs) Layers(dir string) ([]NamedLayer, error) {
	var out []NamedLayer
	for _, g := range in.groups() {
		f, err := os.CreateTemp(dir, "layer-*.tar.gz")
		if err != nil {
			return nil, err
		}
		d, err := writeLayer(f, g.files, g.stored, nil)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("writing the %s layer: %w", g.name, err)
		}
		out = append(out, NamedLayer{Name: g.name, Files: len(g.files), Key: g.key(), Layer: &fileLayer{path: f.Name(), layerDigests: d}})
	}
	return out, nil
}

// diffID is the uncompressed digest of the group's layer: from the layer cache (digests this
// machine computed as it pushed the layer), else by writing the layer's tar to a hash, which
// reads the files again (and checks them against their collected digests).
func (g layerGroup) diffID(cache *layerCache) (v1.Hash, error) {
	if d, ok := cache.get(g.key()); ok {
		return d.DiffID, nil
	}
	h := sha256.New()
	if err := writeTar(h, strings.TrimPrefix(WorkDir, "/"), g.files, nil, nil); err != nil {
		return v1.Hash{}, err
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}, nil
}

// layerDigests are what a registry and an image configuration know a layer by.
type layerDigests struct {
	Digest v1.Hash `json:"digest"`
	DiffID v1.Hash `json:"diffID"`
	Size   int64   `json:"size"`
}

// writeLayer writes files as a gzipped tar to w (stored blocks when stored) and returns its
// digests, computing the digests of the compressed and uncompressed streams in the same pass.
// The tar (reading the files, and hashing each to check it against its collected digest), the
// uncompressed digest and the compression (with its digest and the write) run side by side,
// each in a goroutine of its own. read, when set, is told how many bytes of the files have
// been read, as they are.
func writeLayer(w io.Writer, files []File, stored bool, read func(n int64)) (layerDigests, error) {
	compressed, uncompressed := sha256.New(), sha256.New()
	counter := &countWriter{w: io.MultiWriter(w, compressed)}
	if err := compressParallel(counter, gzipLevel(stored), func(w io.Writer) error {
		hr, hw := io.Pipe()
		hashed := make(chan struct{})
		go func() {
			defer close(hashed)
			_, _ = io.CopyBuffer(uncompressed, hr, make([]byte, pipeChunk))
		}()
		err := writeTar(io.MultiWriter(w, hw), strings.TrimPrefix(WorkDir, "/"), files, nil, read)
		hw.CloseWithError(err)
		<-hashed
		return err
	}); err != nil {
		return layerDigests{}, err
	}
	return layerDigests{
		Digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.Sum(nil))},
		DiffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressed.Sum(nil))},
		Size:   counter.n,
	}, nil
}

// pipeChunk is how much of the tar stream the compressing goroutine takes at a time.
const pipeChunk = 256 << 10

// compressParallel gzips what produce writes to w at level, the producer in a goroutine of
// its own. The output is the same as compressing in one goroutine: gzip's bytes depend only
// on the input and the level.
func compressParallel(w io.Writer, level int, produce func(io.Writer) error) error {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return err
	}
	if err := inParallel(zw, produce); err != nil {
		return err
	}
	return zw.Close()
}

// inParallel copies what produce writes to w, the producer in a goroutine of its own and the
// writes to w in this one, a chunk of pipeChunk at a time.
func inParallel(w io.Writer, produce func(io.Writer) error) error {
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
	_, copyErr := io.CopyBuffer(onlyWriter{w}, pr, make([]byte, pipeChunk))
	pr.CloseWithError(copyErr) // unblocks the producer when the copy failed
	if err := <-done; err != nil {
		return err
	}
	return copyErr
}

// onlyWriter hides a writer's ReadFrom, so that io.CopyBuffer uses its buffer.
type onlyWriter struct{ io.Writer }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// extra is a generated file added to an archive (the Dockerfile of a build context).
type extra struct {
	name string
	data []byte
}

// writeTar writes files under prefix (and extras at the root) as a reproducible tar to w.
// read, when set, is told how many bytes of the files have been read, as they are. A file not
// hashed yet (Digest "") gets its Digest from the bytes written, in files.
func writeTar(w io.Writer, prefix string, files []File, extras []extra, read func(n int64)) error {
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
	for i := range files {
		f := &files[i]
		// An entry out of prefix could overwrite the base image's files, or escape the
		// directory a build context is extracted to.
		if !filepath.IsLocal(filepath.FromSlash(f.Path)) || path.IsAbs(f.Path) {
			return fmt.Errorf("%q is not a path inside the model's directory", f.Path)
		}
		mode := int64(0o644)
		if f.Executable {
			mode = 0o755
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join(prefix, f.Path), Mode: mode, Size: f.Size, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := copyFile(tw, f, read); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyFile copies a file's content, failing when it changed since it was hashed (the checksum
// would describe other content): the bytes copied are hashed on the way and compared with the
// digest taken when the inputs were collected, so a change that keeps the size and the
// modification time (touch -r, a coarse-time file system) is caught too. A file not hashed yet
// is hashed by this copy, the one read of it: its Digest is set to what was written.
func copyFile(w io.Writer, f *File, read func(n int64)) error {
	fh, err := f.root.Open(filepath.FromSlash(f.Path))
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	r := io.TeeReader(io.LimitReader(fh, f.Size), h)
	if read != nil {
		r = &readCounter{r: r, read: read}
	}
	n, err := io.CopyBuffer(w, r, make([]byte, pipeChunk))
	if err != nil {
		return err
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if n != f.Size || unchanged(fh, n, f.ModTime) != nil || (f.Digest != "" && digest != f.Digest) {
		return fmt.Errorf("%s changed while the image was built; build again", f.Path)
	}
	f.Digest = digest
	return nil
}

// readCounter reports the bytes read through it.
type readCounter struct {
	r    io.Reader
	read func(n int64)
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.read(int64(n))
	}
	return n, err
}
