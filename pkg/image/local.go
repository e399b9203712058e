package image

import (
	"context"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// Local builds in this process, without a Docker engine (Registry.Build), saying what it does
// as the cluster builder does: a dry run only hashes the files and says what it would build,
// Ctrl-C ends the push with an Interrupted error.
type Local struct {
	Registry *Registry
	Options  Options
	// DryRun hashes the files and says what would be built; nothing is read from or sent to
	// the registry.
	DryRun bool
	// Progress prints a progress line; nil prints nothing.
	Progress func(format string, args ...any)
	// Terminal, when set, shows the push's progress: a bar redrawn in place when it is a
	// terminal, else a line through Progress at each quarter.
	Terminal io.Writer
	// Explain says what to do about a registry error.
	Explain func(error) error
}

// Build builds and pushes target in this process, or says it is up to date. A dry run returns
// a nil Result.
func (l *Local) Build(ctx context.Context, in *Inputs, target string) (*Result, error) {
	if l.DryRun {
		if err := in.Hash(); err != nil {
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "reading the model's files")
		}
		say(l.Progress, "dry run: would build %s with the local builder: %d files, %s, checksum %s, on %s", target, len(in.Files), HumanBytes(in.Size()), in.Checksum(), in.BaseImage)
		return nil, nil
	}
	// Large files not hashed yet are hashed as they are pushed, when they are new: the checksum
	// is printed once it is known.
	checksum := ""
	if !in.Deferred() {
		checksum = fmt.Sprintf(", checksum %.12s", in.Checksum())
	}
	say(l.Progress, "building %s on %s with the local builder (%d files, %s%s)", target, in.BaseImage, len(in.Files), HumanBytes(in.Size()), checksum)
	opts := l.Options
	done := make(chan struct{})
	if l.Terminal != nil {
		updates := make(chan v1.Update, 64)
		opts.Progress = updates
		go func() {
			defer close(done)
			ShowProgress(l.Terminal, func(format string, args ...any) { say(l.Progress, format, args...) }, updates)
		}()
	} else {
		close(done)
	}
	res, err := l.Registry.Build(ctx, in, target, opts)
	<-done
	if err != nil {
		if ctx.Err() != nil {
			return nil, sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; the registry keeps the layers already pushed, no tag was written")
		}
		return nil, explained(l.Explain, err)
	}
	if res.Distrusted {
		say(l.Progress, "warning: the image at %s carried this build's checksum but not its layers and configuration (another builder made it, or someone with push rights to the repository): replaced", res.Reference)
	}
	if res.Skipped {
		say(l.Progress, "%s is up to date: the registry has it with checksum %.12s (%d requests, nothing pushed)", target, res.Checksum, res.Requests)
	} else {
		say(l.Progress, "pushed %s (checksum %.12s): %s sent in %d requests%s", res.Pinned, res.Checksum, HumanBytes(res.BytesSent), res.Requests, reusedLayers(res.Layers))
	}
	return res, nil
}

// reusedLayers says which layers the registry already held, "" when none.
func reusedLayers(layers []NamedLayer) string {
	var names []string
	for _, l := range layers {
		if l.Reused {
			names = append(names, l.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the registry had the %s layer)", strings.Join(names, " and "))
}
