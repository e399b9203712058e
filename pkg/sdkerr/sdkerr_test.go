package sdkerr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEveryClassHasItsOwnExitCode(t *testing.T) {
	seen := map[int]Class{}
	for _, c := range Classes() {
		code := c.ExitCode()
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s share exit code %d", c, other, code)
		}
		seen[code] = c
		if code == 0 {
			t.Errorf("%s has exit code 0", c)
		}
	}
	if len(seen) != 14 {
		t.Errorf("%d classes, want the 9 SDK exceptions plus Unknown, Usage, Timeout, JobFailed and Interrupted: %v", len(seen), seen)
	}
}

func TestClassSurvivesWrapping(t *testing.T) {
	base := New(InvalidModelProperty, "spec.id: blank")
	wrapped := fmt.Errorf("loading kaptain.yaml: %w", base)
	if ClassOf(wrapped) != InvalidModelProperty || ExitCode(wrapped) != 3 {
		t.Errorf("class %s, code %d", ClassOf(wrapped), ExitCode(wrapped))
	}
	if ExitCode(nil) != 0 || ExitCode(errors.New("x")) != 1 {
		t.Error("nil is 0 and an unclassified error is 1")
	}
	if Wrap(ImageBuild, nil, "x") != nil {
		t.Error("Wrap(nil) must be nil")
	}
	w := Wrap(WorkloadDeployment, errors.New("denied"), "applying tfjob mnist")
	if w.Error() != "applying tfjob mnist: denied" || !strings.Contains(Chain(w), "class: WorkloadDeployment (exit code 11)") {
		t.Errorf("Error() = %q, Chain = %q", w.Error(), Chain(w))
	}
}
