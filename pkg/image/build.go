package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options tune one build.
type Options struct {
	// Force builds and pushes even when the registry holds an image with the same checksum.
	Force bool
	// Progress receives push updates; it may be nil. Build closes it.
	Progress chan<- v1.Update
	// LayerCache is the directory of the layer cache (layers pushed before, by content); ""
	// is none.
	LayerCache string
}

// Result says what a build did.
type Result struct {
	// Reference is the image as named, Pinned the same repository at the pushed digest.
	Reference string
	Pinned    string
	Digest    string
	Checksum  string
	// Skipped is true when the registry already held this build's image, proven by its
	// configuration's digest.
	Skipped bool
	// Distrusted is true when the image at the target carried this build's checksum but was
	// not this build (other content, entrypoint or base): it was replaced.
	Distrusted bool
	// Layers are the model's layers (not the base image's).
	Layers []NamedLayer
	// Requests and BytesSent count what went to the registry.
	Requests  int64
	BytesSent int64
}

// RemoteChecksum returns the checksum of the image at ref, "" when the image has none or is
// missing. The manifest annotation costs one manifest request (plus the registry's auth
// handshake); an image without it (the cluster builder's executor writes only the label) costs
// one more request, for its configuration.
func (r *Registry) RemoteChecksum(ctx context.Context, ref string) (checksum, digest string, err error) {
	cur, err := r.current(ctx, ref, r.newMeter())
	return cur.checksum, cur.digest, err
}

// currentImage is what the registry holds at a build's target.
type currentImage struct {
	checksum, digest string
	// image is the image at the target, nil when there is none.
	image v1.Image
}

func (r *Registry) current(ctx context.Context, s string, m *meter) (currentImage, error) {
	ref, err := r.Reference(s)
	if err != nil {
		return currentImage{}, err
	}
	desc, err := remote.Get(ref, r.options(ctx, m)...)
	if err != nil {
		if isNotFound(err) {
			return currentImage{}, nil
		}
		return currentImage{}, fmt.Errorf("reading %s: %w", s, err)
	}
	cur := currentImage{digest: desc.Digest.String()}
	if !desc.MediaType.IsImage() {
		return cur, nil
	}
	if cur.image, err = desc.Image(); err != nil {
		return cur, nil
	}
	mf, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return cur, nil
	}
	if cur.checksum = mf.Annotations[LabelChecksum]; cur.checksum != "" {
		return cur, nil
	}
	cf, err := cur.image.ConfigFile()
	if err != nil {
		return cur, fmt.Errorf("reading the configuration of %s: %w", s, err)
	}
	cur.checksum = cf.Config.Labels[LabelChecksum]
	return cur, nil
}

// Build makes the model's image on top of its base image and pushes it to target, unless the
// registry already holds target with the same checksum. Base layers are never downloaded: they
// are mounted from the base's repository, or found already present, when the registries match.
//
// A model layer the registry already holds is not written: it is recognised by its content
// key, in the layer annotations of the image at target or in the layer cache (confirmed by the
// registry). Every other layer is compressed as it is uploaded, and its digests go into the
// cache.
func (r *Registry) Build(ctx context.Context, in *Inputs, target string, opts Options) (*Result, error) {
	m := r.newMeter()
	ref, err := r.Reference(target)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", target, err)
	}
	res := &Result{Reference: ref.String()}
	defer func() { res.Requests, res.BytesSent = m.requests.Load(), m.bytes.Load() }()
	progress := &pushProgress{ch: opts.Progress}
	defer progress.close()
	cache := openLayerCache(opts.LayerCache)
	var cur currentImage
	if !opts.Force {
		if cur, err = r.current(ctx, target, m); err != nil {
			return nil, err
		}
	}
	// New weights (the large files Collect left unhashed) are read once, by the push that
	// hashes them, unless their digests are needed first: to compare with the image at the
	// target and reuse its layers, or to find a layer this machine pushed that may hold them.
	if in.Deferred() && (cur.image != nil || cache.mayHold(in.Files)) {
		if err := in.Hash(); err != nil {
			return nil, err
		}
	}
	// Once: grouping samples the large files to choose their compression.
	groups := in.groups()
	var previous v1.Image
	if !in.Deferred() {
		res.Checksum = in.Checksum()
		if cur.image != nil && cur.checksum == res.Checksum {
			// The checksum is computable by anyone who knows the files: the image is this
			// build only if it is proven so.
			same, err := r.proven(ctx, in, groups, cur.image, cache, m)
			if err != nil {
				return nil, err
			}
			if same {
				res.Skipped, res.Digest = true, cur.digest
				res.Pinned = ref.Context().Digest(cur.digest).String()
				return res, nil
			}
			res.Distrusted = true
		}
		previous = cur.image
	}
	layers, err := r.layers(ctx, ref, groups, previous, cache, m, progress)
	if err != nil {
		return nil, err
	}
	pushed := map[string]pushedLayer{}
	if in.Deferred() {
		// The layers go first: their files' digests, and with them the layers' content keys
		// and the checksum the configuration carries, are known once the layers are read.
		if err := r.pushLayers(ctx, ref, layers, m); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", target, err)
		}
		if err := settle(in, groups, layers, pushed); err != nil {
			return nil, err
		}
		res.Checksum = in.Checksum()
	}
	img, err := r.assemble(ctx, in, m, layers)
	if err != nil {
		return nil, err
	}
	res.Layers = layers
	if err := remote.Write(ref, img, r.options(ctx, m)...); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", target, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	res.Digest = d.String()
	res.Pinned = ref.Context().Digest(d.String()).String()
	for i, l := range layers {
		if s, ok := l.Layer.(*streamLayer); ok {
			if d, err := s.digests(); err == nil {
				pushed[l.Key] = pushedLayer{layerDigests: d, files: groups[i].files}
			}
		}
	}
	cache.put(time.Now(), pushed)
	return res, nil
}

// assemble builds the image: base, the model's layers, configuration and annotation.
func (r *Registry) assemble(ctx context.Context, in *Inputs, m *meter, layers []NamedLayer) (v1.Image, error) {
	base, err := r.base(ctx, in.BaseImage, m)
	if err != nil {
		return nil, err
	}
	// The configuration goes on the base first: the streamed layers' diff IDs are added to it
	// once they are known, during the push.
	cf, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the base image's configuration: %w", err)
	}
	cfg := *cf.Config.DeepCopy()
	cfg.WorkingDir = WorkDir
	cfg.Entrypoint = in.Entrypoint()
	cfg.Cmd = nil
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	for k, v := range in.Labels() {
		labels[k] = v
	}
	cfg.Labels = labels
	if base, err = mutate.Config(base, cfg); err != nil {
		return nil, fmt.Errorf("writing the image configuration: %w", err)
	}
	var adds []mutate.Addendum
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{
			Layer:       l.Layer,
			MediaType:   types.OCILayer,
			Annotations: map[string]string{AnnotationLayerContent: l.Key},
			History:     v1.History{CreatedBy: fmt.Sprintf("kubectl-kaptain: %s layer (%d files)", l.Name, l.Files), Created: v1.Time{Time: epoch}},
		})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, fmt.Errorf("adding the model's layers: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	annotated, ok := mutate.Annotations(img, map[string]string{LabelChecksum: in.Checksum()}).(v1.Image)
	if !ok {
		return nil, errors.New("annotating the image manifest")
	}
	return annotated, nil
}

// base resolves the base image by its manifest and configuration only; "scratch" is empty.
func (r *Registry) base(ctx context.Context, s string, m *meter) (v1.Image, error) {
	if s == "scratch" {
		platform := v1.Platform{OS: "linux", Architecture: "amd64"}
		if r.Platform != nil {
			platform = *r.Platform
		}
		return mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: platform.OS, Architecture: platform.Architecture, RootFS: v1.RootFS{Type: "layers"}})
	}
	ref, err := r.Reference(s)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w", s, err)
	}
	img, err := remote.Image(ref, r.options(ctx, m)...)
	if err != nil {
		return nil, &BaseImageError{Image: s, Registry: ref.Context().RegistryStr(), Err: err}
	}
	return img, nil
}

// BaseImageError is a failure to read the base image, from the base's own registry.
type BaseImageError struct {
	Image, Registry string
	Err             error
}

func (e *BaseImageError) Error() string {
	return fmt.Sprintf("reading base image %s: %v", e.Image, e.Err)
}
func (e *BaseImageError) Unwrap() error { return e.Err }
