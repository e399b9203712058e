package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
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

// pushedLayer is a layer this build sent, with its files.
type pushedLayer struct {
	layerDigests
	files []File
}

// pushLayers uploads the streamed layers, as many at once as remote.Write would.
func (r *Registry) pushLayers(ctx context.Context, ref name.Reference, layers []NamedLayer, m *meter) error {
	p, err := remote.NewPusher(r.options(ctx, m)...)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pushJobs)
	for _, l := range layers {
		if _, ok := l.Layer.(*streamLayer); ok {
			g.Go(func() error { return p.Upload(gctx, ref.Context(), l.Layer) })
		}
	}
	return g.Wait()
}

// pushJobs is how many layers go up at once (go-containerregistry's default).
const pushJobs = 4

// settle takes the digests of the files the pushed layers read into in, gives those layers
// their content keys, and records them in pushed: they are in the registry now.
func settle(in *Inputs, groups []layerGroup, layers []NamedLayer, pushed map[string]pushedLayer) error {
	digests := map[string]string{}
	for i, l := range layers {
		s, ok := l.Layer.(*streamLayer)
		if !ok {
			continue
		}
		d, err := s.digests()
		if err != nil {
			return fmt.Errorf("the %s layer: %w", l.Name, err)
		}
		for _, f := range groups[i].files {
			digests[f.Path] = f.Digest
		}
		layers[i].Key = groups[i].key()
		layers[i].Layer = &knownLayer{layerDigests: d, from: "a layer this build pushed"}
		pushed[layers[i].Key] = pushedLayer{layerDigests: d, files: groups[i].files}
	}
	for i, f := range in.Files {
		if f.Digest == "" {
			in.Files[i].Digest = digests[f.Path]
		}
	}
	if in.Deferred() {
		return errors.New("a file was not read by the layers pushed")
	}
	return nil
}

// layers returns the model's layers: known ones where the registry holds them, streamed ones
// otherwise. The progress counts the streamed layers' files.
func (r *Registry) layers(ctx context.Context, ref name.Reference, groups []layerGroup, previous v1.Image, cache *layerCache, m *meter, progress *pushProgress) ([]NamedLayer, error) {
	held, err := heldLayers(previous)
	if err != nil {
		return nil, err
	}
	var out []NamedLayer
	for _, g := range groups {
		l := NamedLayer{Name: g.name, Files: len(g.files), Key: g.key()}
		var known *knownLayer
		// A group whose files are hashed as it is pushed has no content key yet (settle gives
		// it one): it is new to the registry, as far as anything here knows.
		if !g.deferred() {
			if known, err = r.reusable(ctx, ref, g, l.Key, held, cache, m); err != nil {
				return nil, err
			}
		}
		if known != nil {
			l.Layer, l.Reused = known, true
		} else {
			l.Layer = &streamLayer{files: g.files, stored: g.stored, read: progress.read}
			for _, f := range g.files {
				progress.total += f.Size
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// reusable returns the layer of key that the registry holds, nil when it holds none: a layer
// of the image at the target, but only when its uncompressed digest, in that image's
// configuration, is the one of the model's files (an annotation alone is anyone's to write,
// the digest is what runtimes check the layer against); else one the layer cache remembers,
// once the registry confirms it has the blob.
func (r *Registry) reusable(ctx context.Context, ref name.Reference, g layerGroup, key string, held map[string]layerDigests, cache *layerCache, m *meter) (*knownLayer, error) {
	if d, ok := held[key]; ok {
		local, err := g.diffID(cache)
		if err != nil {
			return nil, err
		}
		if d.DiffID == local {
			return &knownLayer{layerDigests: d, from: "a layer of the image at " + ref.String()}, nil
		}
	}
	if d, ok := cache.get(key); ok && r.hasBlob(ctx, ref, d.Digest, m) {
		return &knownLayer{layerDigests: d, from: "a layer found by the layer cache"}, nil
	}
	return nil, nil
}

// proven reports whether img (the image at the target) is the image this build would push:
// its configuration's digest equals that of the configuration assembled here from the base
// image and the uncompressed digests of the model's layers, computed from the files. The
// configuration holds every layer's uncompressed digest, which runtimes check the layers
// against, and the entrypoint, labels and base; its digest is the manifest's, which runtimes
// check the configuration against. It costs the base image's manifest and configuration
// (nothing for scratch) and a hash of the model's files not in the layer cache; no bytes sent.
func (r *Registry) proven(ctx context.Context, in *Inputs, groups []layerGroup, img v1.Image, cache *layerCache, m *meter) (bool, error) {
	if img == nil {
		return false, nil
	}
	got, err := img.ConfigName()
	if err != nil {
		return false, nil
	}
	var layers []NamedLayer
	for _, g := range groups {
		id, err := g.diffID(cache)
		if err != nil {
			return false, err
		}
		// The compressed digest is not part of the configuration: any value does here.
		layers = append(layers, NamedLayer{Name: g.name, Files: len(g.files), Key: g.key(), Layer: &knownLayer{layerDigests: layerDigests{Digest: id, DiffID: id}}})
	}
	want, err := r.assemble(ctx, in, m, layers)
	if err != nil {
		return false, err
	}
	wantName, err := want.ConfigName()
	if err != nil {
		return false, fmt.Errorf("assembling the image configuration: %w", err)
	}
	return wantName == got, nil
}

// heldLayers returns the digests of an image's model layers by content key (the layer
// annotation AnnotationLayerContent); none for a nil image.
func heldLayers(img v1.Image) (map[string]layerDigests, error) {
	held := map[string]layerDigests{}
	if img == nil {
		return held, nil
	}
	mf, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image at the target: %w", err)
	}
	keyed := false
	for _, l := range mf.Layers {
		keyed = keyed || l.Annotations[AnnotationLayerContent] != ""
	}
	if !keyed {
		return held, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the configuration of the image at the target: %w", err)
	}
	for i, l := range mf.Layers {
		if key := l.Annotations[AnnotationLayerContent]; key != "" && i < len(cf.RootFS.DiffIDs) {
			held[key] = layerDigests{Digest: l.Digest, DiffID: cf.RootFS.DiffIDs[i], Size: l.Size}
		}
	}
	return held, nil
}

// hasBlob asks the registry whether ref's repository holds the blob; an error is a no.
func (r *Registry) hasBlob(ctx context.Context, ref name.Reference, digest v1.Hash, m *meter) bool {
	l, err := remote.Layer(ref.Context().Digest(digest.String()), r.options(ctx, m)...)
	if err != nil {
		return false
	}
	ok, err := partial.Exists(l)
	return err == nil && ok
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
