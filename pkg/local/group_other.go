//go:build !unix

package local

import (
	"os"
	"os/exec"
)

// Without process groups (Windows), a process is stopped alone: its own children may outlive
// it.

func ownGroup(*exec.Cmd) {}

func terminateGroup(pid int) { killGroup(pid) }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func reap(int) {}

// lockFile does not lock: two local runs making the same virtual environment at once may
// collide.
func lockFile(*os.File) error { return nil }
