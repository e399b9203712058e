// Package image builds and pushes model images without a Docker engine: the content checksum
// that decides whether a build is needed, reproducible layers of the model's files, the image
// configuration, and the push through go-containerregistry.
package image

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
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
