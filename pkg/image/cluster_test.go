package image

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// fakeUploader is an S3 bucket in memory.
type fakeUploader struct {
	mu      sync.Mutex
	objects map[string][]byte
	deleted []string
	fail    error
}

func (u *fakeUploader) Upload(ctx context.Context, uri string, body io.Reader, size int64, progress func(sent, total int64)) error {
	if u.fail != nil {
		return u.fail
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.objects == nil {
		u.objects = map[string][]byte{}
	}
	u.objects[uri] = data
	if progress != nil {
		progress(size, size)
	}
	return ctx.Err()
}

func (u *fakeUploader) Delete(_ context.Context, uri string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.objects, uri)
	u.deleted = append(u.deleted, uri)
	return nil
}

// fakeExecutor plays the in-cluster executor: it pushes the image as kaniko would (here with
// the local builder) and reports the digest, or fails.
type fakeExecutor struct {
	calls    int
	contexts []string
	push     func() (string, error)
}

func (e *fakeExecutor) Execute(_ context.Context, contextURI string) (string, error) {
	e.calls++
	e.contexts = append(e.contexts, contextURI)
	if e.push == nil {
		return "", nil
	}
	return e.push()
}

const contextURI = "s3://kaptain/models/dev-mnist/build/sum.tar.gz"

func TestClusterBuildsUploadsAndRemovesTheContext(t *testing.T) {
	host, r := testRegistry(t)
	m := writeModel(t, t.TempDir(), sampleFiles, "utils.py")
	in := collect(t, m)
	target := host + "/kaptain/mnist:0.0.1"
	up := &fakeUploader{}
	var uploaded []byte
	ex := &fakeExecutor{push: func() (string, error) {
		uploaded = up.objects[contextURI]
		res, err := r.Build(context.Background(), in, target, Options{Force: true})
		if err != nil {
			return "", err
		}
		return res.Digest, nil
	}}
	var lines []string
	c := &Cluster{Registry: r, ContextURI: contextURI, Uploader: up, Executor: ex,
		Progress: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }}
	res, err := c.Build(context.Background(), in, target)
	if err != nil {
		t.Fatal(err)
	}
	if ex.calls != 1 || len(uploaded) == 0 || !strings.HasPrefix(res.Pinned, host+"/kaptain/mnist@sha256:") || res.Skipped {
		t.Errorf("build: %d executions, %d context bytes, result %+v", ex.calls, len(uploaded), res)
	}
	if len(up.objects) != 0 || len(up.deleted) != 1 {
		t.Errorf("the context was not removed after the build: %v", up.deleted)
	}

	// The registry now has the image with this checksum: nothing is uploaded or run.
	again, err := c.Build(context.Background(), in, target)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Skipped || ex.calls != 1 || again.Pinned != res.Pinned {
		t.Errorf("unchanged rebuild: %+v after %d executions", again, ex.calls)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "is up to date") {
		t.Errorf("progress:\n%s", strings.Join(lines, "\n"))
	}
}

func TestClusterAsksTheRegistryWhenTheExecutorGivesNoDigest(t *testing.T) {
	host, r := testRegistry(t)
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles))
	target := host + "/kaptain/mnist:0.0.1"
	ex := &fakeExecutor{push: func() (string, error) {
		_, err := r.Build(context.Background(), in, target, Options{Force: true})
		return "", err
	}}
	res, err := (&Cluster{Registry: r, ContextURI: contextURI, Uploader: &fakeUploader{}, Executor: ex}).Build(context.Background(), in, target)
	if err != nil || res.Digest == "" || !strings.Contains(res.Pinned, "@sha256:") {
		t.Errorf("result %+v, %v: want the digest read from the registry", res, err)
	}
}

// TestClusterPinsWhatTheRegistryHolds: a digest the builder's pod reports (a build step can
// write the termination log) is not pinned on its word: the registry's tag with this build's
// checksum is; a tag holding another image fails the build (the audit's N5).
func TestClusterPinsWhatTheRegistryHolds(t *testing.T) {
	host, r := testRegistry(t)
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles))
	target := host + "/kaptain/mnist:0.0.1"
	const forged = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	var pushed string
	ex := &fakeExecutor{push: func() (string, error) {
		res, err := r.Build(context.Background(), in, target, Options{Force: true})
		if res != nil {
			pushed = res.Digest
		}
		return forged, err
	}}
	var lines []string
	c := &Cluster{Registry: r, ContextURI: contextURI, Uploader: &fakeUploader{}, Executor: ex,
		Progress: func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }}
	res, err := c.Build(context.Background(), in, target)
	if err != nil || res.Digest != pushed || strings.Contains(res.Pinned, forged) {
		t.Fatalf("result %+v, %v: want the registry's digest %s pinned", res, err, pushed)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "pinning the registry's") {
		t.Errorf("progress:\n%s", strings.Join(lines, "\n"))
	}
	// Another image at the tag (pushed by someone else between the build and the check).
	other := collect(t, writeModel(t, t.TempDir(), map[string]string{"trainer.py": "print('other')\n"}))
	ex.push = func() (string, error) {
		res, err := r.Build(context.Background(), other, target, Options{Force: true})
		if err != nil {
			return "", err
		}
		return res.Digest, nil
	}
	in2 := collect(t, writeModel(t, t.TempDir(), map[string]string{"trainer.py": "print('mine')\n"}))
	if _, err := c.Build(context.Background(), in2, target); err == nil || !strings.Contains(err.Error(), "holds another image") {
		t.Errorf("another image at the tag: %v", err)
	}
}

func TestClusterFailureAndDryRun(t *testing.T) {
	host, r := testRegistry(t)
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles))
	target := host + "/kaptain/mnist:0.0.1"

	up := &fakeUploader{}
	failed := &fakeExecutor{push: func() (string, error) { return "", sdkerr.New(sdkerr.ImageBuild, "job failed") }}
	if _, err := (&Cluster{Registry: r, ContextURI: contextURI, Uploader: up, Executor: failed}).Build(context.Background(), in, target); sdkerr.ClassOf(err) != sdkerr.ImageBuild {
		t.Errorf("failed executor: %v", err)
	}
	if len(up.objects) != 0 {
		t.Error("a failed build left its context in S3")
	}

	// A dry run contacts neither the registry nor S3: only the executor shows its objects.
	dry := &fakeExecutor{}
	c := &Cluster{Registry: r, DryRun: true, ContextURI: contextURI, Uploader: &fakeUploader{fail: errors.New("must not upload")}, Executor: dry}
	if res, err := c.Build(context.Background(), in, "unreachable.invalid/kaptain/mnist:1"); err != nil || res != nil || dry.calls != 1 {
		t.Errorf("dry run: %+v, %v, %d executions", res, err, dry.calls)
	}

	// An upload that fails runs nothing.
	ex := &fakeExecutor{}
	c = &Cluster{Registry: r, ContextURI: contextURI, Uploader: &fakeUploader{fail: errors.New("bucket missing")}, Executor: ex}
	if _, err := c.Build(context.Background(), in, target); err == nil || ex.calls != 0 {
		t.Errorf("failed upload: %v, %d executions", err, ex.calls)
	}
}

func TestClusterInterruptedUploadLeavesNothing(t *testing.T) {
	host, r := testRegistry(t)
	in := collect(t, writeModel(t, t.TempDir(), sampleFiles))
	ctx, cancel := context.WithCancel(context.Background())
	up := &fakeUploader{}
	ex := &fakeExecutor{}
	c := &Cluster{Registry: r, Force: true, ContextURI: contextURI, Uploader: &cancellingUploader{fakeUploader: up, cancel: cancel}, Executor: ex}
	_, err := c.Build(ctx, in, host+"/kaptain/mnist:0.0.1")
	if sdkerr.ClassOf(err) != sdkerr.Interrupted || ex.calls != 0 || len(up.objects) != 0 || len(up.deleted) != 1 {
		t.Errorf("interrupted upload: %v, %d executions, objects %v, deleted %v", err, ex.calls, up.objects, up.deleted)
	}
}

// cancellingUploader is Ctrl-C during the upload.
type cancellingUploader struct {
	*fakeUploader
	cancel context.CancelFunc
}

func (u *cancellingUploader) Upload(ctx context.Context, uri string, body io.Reader, n int64, progress func(sent, total int64)) error {
	u.cancel()
	return u.fakeUploader.Upload(ctx, uri, body, n, progress)
}

// TestClusterStreamsTheContextIntoTheUpload: the build context goes into the upload as it is
// written, through neither memory (a 16 MiB context allocates a fraction of its size) nor a
// temporary file (the audit's L4), stored when its weights do not compress, and whole.
func TestClusterStreamsTheContextIntoTheUpload(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	data := make([]byte, 16<<20)
	_, _ = rand.Read(data) // incompressible
	in := collect(t, writeModel(t, t.TempDir(), map[string]string{"trainer.py": "print(1)\n", "weights.bin": string(data)}, "weights.bin"))
	in.largeFile = 1 << 20
	var weights [sha256.Size]byte
	var tempFiles int
	var uploaded int64
	up := uploadFunc(func(body io.Reader, size int64) error {
		if size >= 0 {
			return fmt.Errorf("size %d: a streamed context has no size yet", size)
		}
		entries, _ := os.ReadDir(tmp)
		tempFiles = len(entries)
		counted := &countWriter{w: io.Discard}
		zr, err := gzip.NewReader(io.TeeReader(body, counted))
		if err != nil {
			return err
		}
		tr := tar.NewReader(zr)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			if hdr.Name == "weights.bin" {
				h := sha256.New()
				if _, err := io.Copy(h, tr); err != nil {
					return err
				}
				copy(weights[:], h.Sum(nil))
			}
		}
		_, err = io.Copy(io.Discard, zr)
		uploaded = counted.n
		return err
	})
	ex := &fakeExecutor{push: func() (string, error) { return "sha256:" + strings.Repeat("a", 64), nil }}
	c := &Cluster{Registry: &Registry{}, Force: true, ContextURI: contextURI, Uploader: up, Executor: ex}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := c.Build(context.Background(), in, "registry.example.com/kaptain/mnist:1"); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("the build allocated %s for a context of %s", HumanBytes(int64(alloc)), HumanBytes(uploaded))
	}
	// Stored: the gzip stream is the tar and a few bytes per 64 KiB block.
	if weights != sha256.Sum256(data) || uploaded < 16<<20 || uploaded > 16<<20+64<<10 || tempFiles != 0 {
		t.Errorf("uploaded %d bytes (weights whole: %v), with %d temporary files", uploaded, weights == sha256.Sum256(data), tempFiles)
	}
	text := collect(t, writeModel(t, t.TempDir(), map[string]string{"trainer.py": "print(1)\n", "vocab.txt": strings.Repeat("token\n", 4<<20)}, "vocab.txt"))
	text.largeFile = 1 << 20
	if in.contextLevel() != gzip.NoCompression || text.contextLevel() != gzip.BestSpeed {
		t.Errorf("context levels %d for weights, %d for text: want stored, then compressed", in.contextLevel(), text.contextLevel())
	}
}

// uploadFunc is an Uploader that reads the body with a function and deletes nothing.
type uploadFunc func(body io.Reader, size int64) error

func (f uploadFunc) Upload(_ context.Context, _ string, body io.Reader, size int64, _ func(sent, total int64)) error {
	return f(body, size)
}
func (uploadFunc) Delete(context.Context, string) error { return nil }
