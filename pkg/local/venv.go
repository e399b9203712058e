package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Venv returns the interpreter of a virtual environment with the requirements installed,
// under cacheDir/venvs/<key>: the key is a hash of the requirements file's content and of the
// base interpreter's version, so an environment is made once per requirements and reused.
// It is made in place (a venv's scripts name its path) with python -m venv and pip install -r,
// under a lock, and marked complete when pip succeeded: a failed or interrupted install is
// made again next time. pip's output goes to log.
func Venv(ctx context.Context, cacheDir, python, requirements string, log io.Writer) (string, error) {
	req, err := os.ReadFile(requirements)
	if err != nil {
		return "", fmt.Errorf("reading the requirements: %w", err)
	}
	version, err := exec.CommandContext(ctx, python, "-c", "import sys; print(sys.executable, sys.version)").Output()
	if err != nil {
		return "", fmt.Errorf("running %s: %w", python, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", bytes.TrimSpace(version))
	h.Write(req)
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(cacheDir, "venvs", key)
	bin, done := filepath.Join(dir, "bin", "python"), filepath.Join(dir, venvComplete)
	if _, err := os.Stat(done); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("creating the virtual environment: %w", err)
	}
	lock, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("creating the virtual environment: %w", err)
	}
	defer lock.Close()
	if err := lockFile(lock); err != nil {
		return "", fmt.Errorf("creating the virtual environment: %w", err)
	}
	if _, err := os.Stat(done); err == nil { // made while this waited for the lock
		return bin, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("creating the virtual environment: %w", err)
	}
	fmt.Fprintf(log, "making a virtual environment with %s in %s (once per requirements file)\n", filepath.Base(requirements), dir)
	run := func(name string, args ...string) error {
		c := exec.CommandContext(ctx, name, args...)
		c.Stdout, c.Stderr = log, log
		if err := c.Run(); err != nil {
			return fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
		}
		return nil
	}
	if err := run(python, "-m", "venv", dir); err != nil {
		return "", fmt.Errorf("creating the virtual environment: %w", err)
	}
	if err := run(bin, "-m", "pip", "install", "--disable-pip-version-check", "-r", requirements); err != nil {
		return "", fmt.Errorf("installing %s into %s: %w", requirements, dir, err)
	}
	if err := os.WriteFile(done, []byte(requirements+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("creating the virtual environment: %w", err)
	}
	return bin, nil
}

// venvComplete marks a virtual environment whose requirements were installed.
const venvComplete = ".kaptain-complete"
