package image

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// WriteTree copies the files the image holds under WorkDir into dir, an empty directory, at the
// same relative paths and with the same execute bit: what a local run of the model's code
// sees as its working directory. Each file is read through the base directory's os.Root and
// checked against what Collect saw, as a build does.
func (in *Inputs) WriteTree(dir string) error {
	dst, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("copying the model's files: %w", err)
	}
	defer dst.Close()
	for i := range in.Files {
		f := &in.Files[i]
		if err := writeTreeFile(dst, f); err != nil {
			return fmt.Errorf("copying %s: %w", f.Source, err)
		}
	}
	return nil
}

// writeTreeFile writes one file under dst, creating its directories.
func writeTreeFile(dst *os.Root, f *File) error {
	rel := filepath.FromSlash(f.Path)
	if d := path.Dir(f.Path); d != "." {
		if err := dst.MkdirAll(filepath.FromSlash(d), 0o755); err != nil {
			return err
		}
	}
	mode := os.FileMode(0o644)
	if f.Executable {
		mode = 0o755
	}
	out, err := dst.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if err := copyFile(out, f, nil); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
