// Package image builds and pushes model images without a Docker engine: the content checksum
// that decides whether a build is needed, reproducible layers of the model's files, the image
// configuration, and the push through go-containerregistry.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// WorkDir is where the model's files live in the image, and the working directory of its
// entrypoint.
const WorkDir = "/app"

// Image labels (and the manifest annotation) that a build writes.
const (
	LabelChecksum         = "dev.kaptain.checksum"
	LabelModelID          = "dev.kaptain.model-id"
	LabelModelVersion     = "dev.kaptain.model-version"
	LabelFramework        = "dev.kaptain.framework"
	LabelFrameworkVersion = "dev.kaptain.framework-version"
	// AnnotationLayerContent annotates each model layer in the manifest with its content key,
	// so that the next build recognises the layers it does not need to send.
	AnnotationLayerContent = "dev.kaptain.layer-content"
)

// Layer names: files that change rarely (extra files: helpers, data) go in the dependency
// layer, the main file and the requirements file in the small code layer on top.
const (
	LayerDeps = "deps"
	LayerCode = "code"
)

// File is one file of the model as it goes into the image.
type File struct {
	// Path is the slash-separated path relative to the model's base directory, also the path
	// under WorkDir in the image.
	Path string
	// Source is the file on this machine, for messages; the content is read through root, the
	// model's base directory opened when it was collected (an os.Root: it cannot lead out of
	// it, and a directory renamed or swapped since is not followed).
	Source string
	root   *os.Root
	// Layer is LayerDeps or LayerCode.
	Layer string
	// Executable is true when any execute bit is set; it is the only mode bit kept.
	Executable bool
	// Size and Digest (hex sha256) describe the content, ModTime when it was hashed: a later
	// read that finds another size or time knows the file changed. Digest is "" for a large
	// file not hashed yet (Collect leaves those for Hash, or for the push that reads them).
	Size    int64
	ModTime time.Time
	Digest  string
}

// Inputs is everything that shapes a model image.
type Inputs struct {
	BaseImage        string
	Framework        string
	FrameworkVersion string
	ModelID          string
	ModelVersion     string
	MainFile         string
	Requirements     string
	// Platform is the os/arch of the base image picked from an index; linux/amd64 when empty.
	Platform string
	// Files are sorted by Path.
	Files []File
	// largeFile, when set, replaces LargeFile (tests).
	largeFile int64
	// secrets maps the path of a file that a directory of extraFiles brought in and that
	// looks like a credential to the warning about it.
	secrets map[string]string
}

// Collect reads the model's main file, extra files (a directory stands for every regular file
// under it) and requirements from its base directory, hashing each one but the large ones
// (LargeFile or more): those are hashed by Hash, or as a build pushes them, so that new weights
// are read once. Every file is opened
// through an os.Root on the base directory: a path or symbolic link that leads out of it is
// refused, so nothing but the model's own files can go into an image or a build context.
func Collect(m *model.Model) (*Inputs, error) {
	s := m.Spec
	base := s.Config.BaseDir
	if base == "" {
		base = "."
	}
	root, err := openBase(m.Path, base)
	if err != nil {
		return nil, err
	}
	in := &Inputs{
		BaseImage: s.BaseImage, Framework: s.Framework, FrameworkVersion: s.FrameworkVersion,
		ModelID: s.ID, ModelVersion: s.Version, MainFile: filepath.ToSlash(path.Clean(s.MainFile)),
	}
	seen, secrets := map[string]bool{}, map[string]string{}
	add := func(field, rel, layer string) error {
		files, walked, err := expand(root, base, rel)
		if err != nil {
			return fmt.Errorf("%s %q: %w", field, rel, err)
		}
		for _, f := range files {
			if seen[f.Path] {
				continue
			}
			seen[f.Path] = true
			f.Layer = layer
			in.Files = append(in.Files, f)
			if walked && looksSecret(f.Path) {
				secrets[f.Path] = fmt.Sprintf("%s %q brings in %s, which looks like a credential: it goes into the image; list the files you mean instead", field, rel, f.Path)
			}
		}
		return nil
	}
	if err := add("spec.mainFile", s.MainFile, LayerCode); err != nil {
		return nil, err
	}
	if s.Requirements != "" {
		in.Requirements = filepath.ToSlash(path.Clean(s.Requirements))
		if err := add("spec.requirements", s.Requirements, LayerCode); err != nil {
			return nil, err
		}
	}
	for i, e := range s.ExtraFiles {
		if err := add(fmt.Sprintf("spec.extraFiles[%d]", i), e, LayerDeps); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(in.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	in.secrets = secrets
	in.Exclude(s.Config.Registry.DockerConfig, s.Config.Registry.Certificate)
	return in, nil
}

// Exclude removes from the files those that are one of paths (files on this machine: the
// Docker config and registry certificate a build reads), however they are spelled: the
// credentials of a build never go into its image. It returns the paths in the image of what
// it removed.
func (in *Inputs) Exclude(paths ...string) []string {
	var infos []fs.FileInfo
	for _, p := range paths {
		if p == "" {
			continue
		}
		if info, err := os.Stat(p); err == nil {
			infos = append(infos, info)
		}
	}
	if len(infos) == 0 {
		return nil
	}
	var removed []string
	in.Files = slices.DeleteFunc(in.Files, func(f File) bool {
		info, err := f.root.Stat(filepath.FromSlash(f.Path))
		if err != nil || !slices.ContainsFunc(infos, func(x fs.FileInfo) bool { return os.SameFile(x, info) }) {
			return false
		}
		removed = append(removed, f.Path)
		return true
	})
	return removed
}

// Warnings name the files that a directory of extraFiles brought in and that look like
// credentials, in path order; the caller prints them.
func (in *Inputs) Warnings() []string {
	var out []string
	for _, f := range in.Files {
		if w, ok := in.secrets[f.Path]; ok {
			out = append(out, w)
		}
	}
	return out
}

// looksSecret reports whether a path looks like a credential or a secret: a key, a
// certificate's key, an environment file, or something under a directory that tools keep
// credentials in.
func looksSecret(p string) bool {
	for _, dir := range strings.Split(path.Dir(p), "/") {
		switch dir {
		case ".aws", ".docker", ".ssh", ".gnupg", ".kube", ".config":
			return true
		}
	}
	base := path.Base(p)
	switch {
	case base == ".env", strings.HasPrefix(base, ".env."), base == ".netrc", base == ".npmrc", base == ".pypirc",
		strings.HasPrefix(base, "id_rsa"), strings.HasPrefix(base, "id_ed25519"), strings.HasPrefix(base, "id_ecdsa"), strings.HasPrefix(base, "id_dsa"),
		strings.HasSuffix(base, ".pem"), strings.HasSuffix(base, ".key"), strings.HasSuffix(base, ".p12"), strings.HasSuffix(base, ".pfx"):
		return true
	}
	return false
}

// openBase opens the model's base directory. For a model read from a file it is opened
// through an os.Root on the file's directory, so that a baseDir that is, or passes through, a
// symbolic link leading out of that directory is refused (os.OpenRoot alone follows links in
// the name it opens); a model built in code opens baseDir as given. The root stays open for
// the files read through it: Go closes it once nothing refers to it.
func openBase(file, base string) (*os.Root, error) {
	if file == "" {
		root, err := os.OpenRoot(base)
		if err != nil {
			return nil, fmt.Errorf("spec.config.baseDir: %w", err)
		}
		return root, nil
	}
	dir := filepath.Dir(file)
	top, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("spec.config.baseDir: %w", err)
	}
	rel, err := filepath.Rel(dir, base)
	if err != nil || rel == "." {
		return top, err
	}
	defer top.Close()
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("spec.config.baseDir %s: not inside %s", base, dir)
	}
	root, err := top.OpenRoot(rel)
	if err != nil {
		if strings.Contains(err.Error(), "escapes from parent") {
			return nil, fmt.Errorf("spec.config.baseDir %s leads out of %s (a symbolic link?): only the model's own files go into the image", base, dir)
		}
		return nil, fmt.Errorf("spec.config.baseDir: %w", err)
	}
	return root, nil
}

// expand returns the regular files at rel under root (a file, or a directory walked in lexical
// order), hashed, and whether rel was a directory. Symbolic links are followed for files named
// directly, inside root only, and skipped inside directories, as is a walked directory's .git
// (a repository's history is no part of a model).
func expand(root *os.Root, base, rel string) ([]File, bool, error) {
	name := path.Clean(filepath.ToSlash(rel))
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return nil, false, fmt.Errorf("not inside baseDir %s", base)
	}
	info, err := root.Stat(filepath.FromSlash(name))
	if err != nil {
		return nil, false, outside(err, base)
	}
	if !info.IsDir() {
		f, err := hashFile(root, base, name, info)
		if err != nil {
			return nil, false, outside(err, base)
		}
		return []File{f}, false, nil
	}
	type entry struct {
		rel  string
		info fs.FileInfo
	}
	var entries []entry
	err = fs.WalkDir(root.FS(), name, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		entries = append(entries, entry{p, info})
		return nil
	})
	if err != nil {
		return nil, true, outside(err, base)
	}
	// Hash on every core, keeping the walk's order.
	out := make([]File, len(entries))
	err = onEveryCore(len(entries), func(i int) (err error) {
		out[i], err = hashFile(root, base, entries[i].rel, entries[i].info)
		return err
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("directory has no files")
	}
	return out, true, err
}

// outside explains os.Root's refusal of a path that leads out of the base directory.
func outside(err error, base string) error {
	if strings.Contains(err.Error(), "escapes from parent") {
		return fmt.Errorf("it leads out of baseDir %s (a symbolic link?): only the model's own files go into the image: %w", base, err)
	}
	return err
}

// hashFile hashes the regular file rel (slash-separated) of root; a file of LargeFile or more
// is opened (so that one that cannot be read fails here) and left for Hash.
func hashFile(root *os.Root, base, rel string, info fs.FileInfo) (File, error) {
	return readFile(root, base, rel, info, info.Size() < LargeFile)
}

// readFile opens the regular file rel of root and, when hash is set, hashes it.
func readFile(root *os.Root, base, rel string, info fs.FileInfo, hash bool) (File, error) {
	if !info.Mode().IsRegular() {
		return File{}, fmt.Errorf("not a regular file")
	}
	fh, err := root.Open(filepath.FromSlash(rel))
	if err != nil {
		return File{}, err
	}
	defer fh.Close()
	before, err := fh.Stat()
	if err != nil {
		return File{}, err
	}
	if !hash {
		return File{Path: rel, Source: filepath.Join(base, filepath.FromSlash(rel)), root: root, Executable: info.Mode()&0o111 != 0,
			Size: before.Size(), ModTime: before.ModTime()}, nil
	}
	h := sha256.New()
	// Large reads: a system call per 32 KiB (io.Copy's buffer) costs a tenth of the hash.
	n, err := io.CopyBuffer(h, onlyReader{fh}, make([]byte, min(max(before.Size(), 512), hashBuffer)))
	if err != nil {
		return File{}, err
	}
	if err := unchanged(fh, n, before.ModTime()); err != nil {
		return File{}, err
	}
	return File{Path: rel, Source: filepath.Join(base, filepath.FromSlash(rel)), root: root, Executable: info.Mode()&0o111 != 0,
		Size: n, ModTime: before.ModTime(), Digest: hex.EncodeToString(h.Sum(nil))}, nil
}

// Deferred reports whether some files are not hashed yet (see Collect).
func (in *Inputs) Deferred() bool {
	for _, f := range in.Files {
		if f.Digest == "" {
			return true
		}
	}
	return false
}

// Hash hashes the files Collect left unhashed, on every core; it does nothing when there are
// none. A file whose size or modification time is no longer what Collect saw changed since.
func (in *Inputs) Hash() error {
	var todo []int
	for i, f := range in.Files {
		if f.Digest == "" {
			todo = append(todo, i)
		}
	}
	return onEveryCore(len(todo), func(j int) error { return in.hashOne(todo[j]) })
}

// onEveryCore calls f(0) to f(n-1), as many at once as there are cores, and joins their errors.
func onEveryCore(n int, f func(i int) error) error {
	errs := make([]error, n)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hashOne hashes the file at index i, which must be as Collect saw it.
func (in *Inputs) hashOne(i int) error {
	f := in.Files[i]
	info, err := f.root.Stat(filepath.FromSlash(f.Path))
	if err != nil {
		return fmt.Errorf("hashing %s: %w", f.Path, err)
	}
	if info.Size() != f.Size || !info.ModTime().Equal(f.ModTime) {
		return fmt.Errorf("%s changed since the model's files were collected; build again", f.Path)
	}
	h, err := readFile(f.root, "", f.Path, info, true)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", f.Path, err)
	}
	in.Files[i].Digest, in.Files[i].ModTime = h.Digest, h.ModTime
	return nil
}

// hashBuffer is the read size of the files hashed.
const hashBuffer = 1 << 20

// onlyReader hides a reader's WriteTo, so that io.CopyBuffer uses its buffer.
type onlyReader struct{ io.Reader }

// unchanged checks that an open file, read to its end in n bytes, still has that size and the
// modification time it had when it was first opened: a write in between changes one of them.
func unchanged(fh *os.File, n int64, modTime time.Time) error {
	after, err := fh.Stat()
	if err != nil {
		return err
	}
	if after.Size() != n || !after.ModTime().Equal(modTime) {
		return errChanged
	}
	return nil
}

// errChanged is a file written to while it was read.
var errChanged = errors.New("changed while it was read")
