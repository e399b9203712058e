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
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

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
