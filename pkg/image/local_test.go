package image

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// TestLocalSaysWhatItDoes: the local builder's dry run reads no registry and says what it
// would build; a real build says what it pushed, then that the registry is up to date; Ctrl-C
// is an Interrupted error.
func TestLocalSaysWhatItDoes(t *testing.T) {
	host, r := testRegistry(t)
	base, _ := pushBase(t, host, r, 1<<10)
	m := writeModel(t, t.TempDir(), sampleFiles)
	m.Spec.BaseImage = base
	var lines []string
	progress := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }

	dry := &Local{Registry: &Registry{}, DryRun: true, Progress: progress}
	if res, err := dry.Build(context.Background(), collect(t, m), "unreachable.invalid/kaptain/mnist:1"); err != nil || res != nil {
		t.Fatalf("dry run: %+v, %v; want nothing built", res, err)
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "dry run: would build unreachable.invalid/kaptain/mnist:1 with the local builder: ") {
		t.Errorf("dry run said %q", lines)
	}

	target := host + "/kaptain/mnist:1"
	for _, want := range []string{"pushed " + host + "/kaptain/mnist@sha256:", target + " is up to date"} {
		lines = nil
		l := &Local{Registry: r, Progress: progress}
		if res, err := l.Build(context.Background(), collect(t, m), target); err != nil || res == nil {
			t.Fatalf("build: %+v, %v", res, err)
		}
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "building "+target+" on "+base) || !strings.HasPrefix(lines[1], want) {
			t.Errorf("build said %q, want a building line then %q", lines, want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l := &Local{Registry: r, Options: Options{Force: true}}
	if _, err := l.Build(ctx, collect(t, m), host+"/kaptain/other:1"); sdkerr.ClassOf(err) != sdkerr.Interrupted {
		t.Errorf("cancelled build: %v, want an Interrupted error", err)
	}
}
