package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadPatchFileRefusesAHugeFile: a patch file is read up to MaxPatchSize, not whole.
func TestReadPatchFileRefusesAHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, append([]byte("kind: TFJob\nmetadata:\n  annotations:\n    a: "), bytes.Repeat([]byte("x"), MaxPatchSize)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPatchFile(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want the size named", err)
	}
}
