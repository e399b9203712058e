package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// Builders, as --builder names them.
const (
	BuilderAuto    = "auto"
	BuilderLocal   = "local"
	BuilderCluster = "cluster"
)

// Choose resolves a builder's name for the inputs: auto is the cluster builder when the model
// has requirements (pip runs inside the image), else the local one.
func Choose(builder string, in *Inputs) (string, error) {
	switch builder {
	case BuilderAuto:
		if in.Requirements != "" {
			return BuilderCluster, nil
		}
		return BuilderLocal, nil
	case BuilderLocal:
		if in.Requirements != "" {
			return "", sdkerr.New(sdkerr.Usage, "--builder local cannot pip install %s (spec.requirements); use --builder cluster, or remove the requirements and vendor the packages in spec.extraFiles", in.Requirements)
		}
		return builder, nil
	case BuilderCluster:
		return builder, nil
	}
	return "", sdkerr.New(sdkerr.Usage, "--builder %q is not supported; use auto, local or cluster", builder)
}

// Builder builds a model's image from its inputs and pushes it to target, unless the
// registry already holds it with the inputs' checksum. A nil Result without error means a
// dry run: nothing was built.
type Builder interface {
	Build(ctx context.Context, in *Inputs, target string) (*Result, error)
}

var (
	_ Builder = (*Local)(nil)
	_ Builder = (*Cluster)(nil)
)

// Uploader stores build contexts (an S3 client).
type Uploader interface {
	// Upload writes body to uri (size bytes; as many as it holds when size is negative),
	// telling progress (when set) the bytes sent.
	Upload(ctx context.Context, uri string, body io.Reader, size int64, progress func(sent, total int64)) error
	Delete(ctx context.Context, uri string) error
}

// Executor runs the in-cluster executor on an uploaded build context and returns the digest
// it pushed, "" when it did not say (or for a dry run).
type Executor interface {
	Execute(ctx context.Context, contextURI string) (digest string, err error)
}

// Cluster builds in the cluster: it uploads the build context (files and a Dockerfile that
// pip installs the requirements) and runs a kaniko-style executor on it. The context is
// removed again whatever happens.
type Cluster struct {
	// Registry reads the target's checksum before building and its digest after.
	Registry *Registry
	// Force builds even when the registry holds the image with the same checksum.
	Force bool
	// DryRun neither compares, uploads nor waits: only the Executor is asked to show what
	// it would run.
	DryRun bool
	// ContextURI is where the context is uploaded.
	ContextURI string
	Uploader   Uploader
	Executor   Executor
	// Progress prints a progress line; nil prints nothing.
	Progress func(format string, args ...any)
	// Explain says what to do about a registry error.
	Explain func(error) error
}

// cleanupTimeout bounds the removal of an uploaded context after Ctrl-C.
const cleanupTimeout = 30 * time.Second

// Build builds target in the cluster, or says it is up to date.
func (c *Cluster) Build(ctx context.Context, in *Inputs, target string) (*Result, error) {
	// The checksum names the context and is compared first: every file is hashed.
	if err := in.Hash(); err != nil {
		return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "reading the model's files")
	}
	if !c.DryRun && !c.Force {
		sum, digest, err := c.Registry.RemoteChecksum(ctx, target)
		switch {
		case ctx.Err() != nil:
			return nil, sdkerr.New(sdkerr.Interrupted, "interrupted; nothing was created")
		case err != nil && Diagnose(err) == ProblemUnreachable:
			c.printf("warning: cannot reach %s from here to compare checksums; building in the cluster", registryOf(target))
		case err != nil:
			return nil, c.explain(err)
		case sum == in.Checksum():
			c.printf("%s is up to date: the registry has it with checksum %.12s; nothing to build", target, sum)
			return c.result(target, sum, digest, true)
		}
	}
	if c.DryRun {
		_, err := c.Executor.Execute(ctx, c.ContextURI)
		return nil, err
	}
	if err := c.upload(ctx, in); err != nil {
		return nil, err
	}
	defer c.removeContext()
	digest, err := c.Executor.Execute(ctx, c.ContextURI)
	if err != nil {
		return nil, err
	}
	// The registry's word on what the tag holds: the image pinned is the one at the tag with
	// this checksum, whatever the builder's pod reported.
	if sum, d, err := c.Registry.RemoteChecksum(ctx, target); err == nil && sum == in.Checksum() {
		if digest != "" && d != digest {
			c.printf("warning: the builder reported %s, but %s holds this build at %s; pinning the registry's", digest, target, d)
		}
		digest = d
	} else if err == nil && d != "" && digest != "" {
		return nil, sdkerr.New(sdkerr.ImageBuild, "the builder reported pushing %s, but %s holds another image (checksum %.12s, not %.12s): something else pushed to it; build again", digest, target, sum, in.Checksum())
	}
	if digest == "" {
		c.printf("warning: the builder did not report the digest and the registry could not be asked; the image is not pinned")
		return &Result{Reference: target, Pinned: target, Checksum: in.Checksum()}, nil
	}
	res, err := c.result(target, in.Checksum(), digest, false)
	if err == nil {
		c.printf("pushed %s", res.Pinned)
	}
	return res, err
}

// upload streams the build context into the upload as it is written: nothing of it on disk,
// and no more of it in memory than the upload's parts in flight, however large the model's
// files. A context that cannot be written (a file changed) fails the upload, which is aborted.
func (c *Cluster) upload(ctx context.Context, in *Inputs) error {
	size := in.Size()
	c.printf("uploading the build context (%s of files) to %s", HumanBytes(size), c.ContextURI)
	var progress func(sent, total int64)
	if size >= showUploadFrom {
		// The context's size is known once it is written: the files' size stands for it.
		show := quarters(func(pct int, _ int64) { c.printf("uploading: %d%% of about %s", pct, HumanBytes(size)) })
		progress = func(sent, _ int64) { show(sent, size) }
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := in.Context(pw)
		pw.CloseWithError(err)
		written <- err
	}()
	err := c.Uploader.Upload(ctx, c.ContextURI, pr, -1, progress)
	pr.CloseWithError(errUploadStopped) // unblocks the writer when the upload failed
	werr := <-written
	switch {
	case err != nil && ctx.Err() != nil:
		c.removeContext()
		return sdkerr.New(sdkerr.Interrupted, "interrupted while uploading the build context; nothing was created")
	case err != nil && werr != nil && !errors.Is(werr, errUploadStopped):
		return sdkerr.Wrap(sdkerr.ImageBuild, werr, "writing the build context")
	case err != nil:
		return sdkerr.Wrap(sdkerr.ImageBuild, err, "")
	}
	return nil
}

// errUploadStopped is what the context's writer meets when the upload stopped reading.
var errUploadStopped = errors.New("the upload stopped")

// showUploadFrom is the size of a build context from which its upload's progress is shown.
const showUploadFrom = 32 << 20

// quarters returns a progress function that calls show once at each quarter reached (25, 50,
// 75, 100 percent), from whichever goroutine reports.
func quarters(show func(pct int, total int64)) func(sent, total int64) {
	var mu sync.Mutex
	shown := 0
	return func(sent, total int64) {
		if total <= 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for q := int(min(sent, total) * 4 / total); shown < q; {
			shown++
			show(shown*25, total)
		}
	}
}

// result is target at digest.
func (c *Cluster) result(target, checksum, digest string, skipped bool) (*Result, error) {
	ref, err := c.Registry.Reference(target)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", target, err)
	}
	return &Result{Reference: target, Checksum: checksum, Digest: digest, Skipped: skipped, Pinned: ref.Context().Digest(digest).String()}, nil
}

// removeContext deletes the uploaded context, also after Ctrl-C.
func (c *Cluster) removeContext() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := c.Uploader.Delete(ctx, c.ContextURI); err != nil {
		c.printf("warning: %v", err)
	}
}

func (c *Cluster) printf(format string, args ...any) { say(c.Progress, format, args...) }

func (c *Cluster) explain(err error) error { return explained(c.Explain, err) }

// say prints a progress line through progress, nothing when it is nil.
func say(progress func(format string, args ...any), format string, args ...any) {
	if progress != nil {
		progress(format, args...)
	}
}

// explained is err as explain says it, err itself when explain is nil.
func explained(explain func(error) error, err error) error {
	if explain != nil {
		return explain(err)
	}
	return err
}

// registryOf is the registry of an image reference, or the reference when it does not parse.
func registryOf(target string) string {
	var r Registry
	ref, err := r.Reference(target)
	if err != nil {
		return target
	}
	return ref.Context().RegistryStr()
}

// HumanBytes formats a size in binary units, as kubectl does.
func HumanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
