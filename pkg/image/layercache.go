package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// layerCacheFile is the cache's file name in Options.LayerCache.
const layerCacheFile = "layers.json"

// layerCacheSize is how many layers the cache remembers; the least recently pushed go first.
const layerCacheSize = 256

// layerCache remembers, by content key, the digests of layers this machine has pushed, so that
// a push to a new tag or repository finds a layer the registry holds without writing it first.
// It is a hint: a layer is reused only once the registry says it has the blob. A cache that
// cannot be read or written is an empty one.
type layerCache struct {
	path    string
	entries map[string]cachedLayer
}

type cachedLayer struct {
	layerDigests
	Pushed time.Time `json:"pushed"`
	// Files are the layer's large files as they were when pushed: a file of the same path,
	// size and modification time may be the same (mayHold); only its digest tells.
	Files []cachedFile `json:"files,omitempty"`
}

// cachedFile is a large file of a pushed layer.
type cachedFile struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"modTime"`
}

// mayHold reports whether a layer in the cache may hold one of the files not hashed yet: one
// it had of the same path, size and modification time. Such a build hashes them first, so
// that the layer is found by its content key.
func (c *layerCache) mayHold(files []File) bool {
	// By value, not by time.Time (whose location and monotonic reading would count).
	type seen struct {
		path      string
		size, mod int64
	}
	known := map[seen]bool{}
	for _, e := range c.entries {
		for _, f := range e.Files {
			known[seen{f.Path, f.Size, f.ModTime.UnixNano()}] = true
		}
	}
	for _, f := range files {
		if f.Digest == "" && known[seen{f.Path, f.Size, f.ModTime.UnixNano()}] {
			return true
		}
	}
	return false
}

// openLayerCache reads the cache in dir; dir "" is no cache.
func openLayerCache(dir string) *layerCache {
	c := &layerCache{entries: map[string]cachedLayer{}}
	if dir == "" {
		return c
	}
	c.path = filepath.Join(dir, layerCacheFile)
	if data, err := os.ReadFile(c.path); err == nil {
		_ = json.Unmarshal(data, &c.entries)
	}
	return c
}

func (c *layerCache) get(key string) (layerDigests, bool) {
	e, ok := c.entries[key]
	return e.layerDigests, ok && e.Digest.Hex != "" && e.DiffID.Hex != ""
}

// put remembers the layers and writes the cache, keeping the newest layerCacheSize entries.
// The file is replaced whole, so that a concurrent build reads the old or the new one.
func (c *layerCache) put(now time.Time, layers map[string]pushedLayer) {
	if c.path == "" || len(layers) == 0 {
		return
	}
	for k, d := range layers {
		e := cachedLayer{layerDigests: d.layerDigests, Pushed: now}
		for _, f := range d.files {
			if f.Size >= LargeFile {
				e.Files = append(e.Files, cachedFile{Path: f.Path, Size: f.Size, ModTime: f.ModTime.UTC()})
			}
		}
		c.entries[k] = e
	}
	if len(c.entries) > layerCacheSize {
		keys := make([]string, 0, len(c.entries))
		for k := range c.entries {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return c.entries[b].Pushed.Compare(c.entries[a].Pushed) })
		for _, k := range keys[layerCacheSize:] {
			delete(c.entries, k)
		}
	}
	data, err := json.Marshal(c.entries)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(c.path), layerCacheFile+".*")
	if err != nil {
		return
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || os.Rename(f.Name(), c.path) != nil {
		_ = os.Remove(f.Name())
	}
}
