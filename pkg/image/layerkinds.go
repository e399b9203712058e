package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The v1.Layer kinds a build pushes: written to a file (Inputs.Layers), streamed as it is
// uploaded, or known by the digests of a layer the registry holds.

// fileLayer is a compressed layer in a file whose digests are known.
type fileLayer struct {
	path string
	layerDigests
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.layerDigests.Digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.layerDigests.DiffID, nil }
func (l *fileLayer) Size() (int64, error)                 { return l.layerDigests.Size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return types.OCILayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return uncompress(l.path) }

// streamLayer is a layer compressed as the upload reads it: its digests are known once the
// stream has been read to its end, which go-containerregistry's remote.Write understands
// (stream.ErrNotComputed until then, as for its own stream.Layer). It can be read once.
type streamLayer struct {
	files  []File
	stored bool
	read   func(n int64)

	mu     sync.Mutex
	opened bool
	done   *layerDigests
}

func (l *streamLayer) digests() (layerDigests, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		return layerDigests{}, stream.ErrNotComputed
	}
	return *l.done, nil
}

func (l *streamLayer) Digest() (v1.Hash, error)            { d, err := l.digests(); return d.Digest, err }
func (l *streamLayer) DiffID() (v1.Hash, error)            { d, err := l.digests(); return d.DiffID, err }
func (l *streamLayer) Size() (int64, error)                { d, err := l.digests(); return d.Size, err }
func (l *streamLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// Compressed starts writing the layer into a pipe. The digests are set before the reader sees
// the end of the stream; closing the reader early stops the writing.
func (l *streamLayer) Compressed() (io.ReadCloser, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opened {
		return nil, stream.ErrConsumed
	}
	l.opened = true
	pr, pw := io.Pipe()
	go func() {
		d, err := writeLayer(pw, l.files, l.stored, l.read)
		if err == nil {
			l.mu.Lock()
			l.done = &d
			l.mu.Unlock()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// Uncompressed is not offered: the layer exists only as the compressed stream being pushed.
func (l *streamLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, errors.New("a streamed layer has no uncompressed form")
}

// knownLayer is a layer the registry already holds, known by its digests alone.
type knownLayer struct {
	layerDigests
	// from says where the digests came from, for the error when the blob is gone.
	from string
}

func (l *knownLayer) Digest() (v1.Hash, error)            { return l.layerDigests.Digest, nil }
func (l *knownLayer) DiffID() (v1.Hash, error)            { return l.layerDigests.DiffID, nil }
func (l *knownLayer) Size() (int64, error)                { return l.layerDigests.Size, nil }
func (l *knownLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// Compressed is only asked for when the registry lost the blob since it was seen.
func (l *knownLayer) Compressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("layer %s (%s) is no longer in the registry; build again with --force-build", l.layerDigests.Digest, l.from)
}

// Uncompressed is not offered: the layer is in the registry, not here.
func (l *knownLayer) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("layer %s is in the registry only", l.layerDigests.Digest)
}

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
	// Key is the content key: equal keys, equal layers.
	Key string
	// Reused is true when the registry already held the layer and it was not sent.
	Reused bool
}
