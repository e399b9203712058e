package image

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

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
