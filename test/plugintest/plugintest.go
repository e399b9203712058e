// Package plugintest runs the built kubectl-kaptain binary as a process in the integration
// and e2e suites: in the foreground to its exit code, or in the background while the test
// reads its output, plays an operator or sends it Ctrl-C.
package plugintest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Plugin is the binary and the cluster it talks to.
type Plugin struct {
	// Binary is the path of the built kubectl-kaptain.
	Binary string
	// Kubeconfig is passed as --kubeconfig.
	Kubeconfig string
	// Home is the process's HOME, so that nothing of the user's is read.
	Home string
}

// Result is one finished run.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the plugin in dir to its end and fails the test if it runs longer than within.
// The environment holds HOME, PATH and env only.
func (p Plugin) Run(t testing.TB, within time.Duration, dir string, env []string, args ...string) Result {
	t.Helper()
	r := p.Start(t, dir, env, args...)
	code := r.Exit(t, within)
	return Result{Stdout: r.Stdout(), Stderr: r.Stderr(), Code: code}
}

// Exec runs the plugin in dir to its end, killing it after within, and returns its result
// or why it could not run. It does not touch the test, so goroutines may call it.
func (p Plugin) Exec(within time.Duration, dir string, env []string, args ...string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Binary, append([]string{"--kubeconfig", p.Kubeconfig}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOME=" + p.Home, "PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return Result{}, fmt.Errorf("%s %s still ran after %s", p.Binary, strings.Join(args, " "), within)
	case errors.As(err, &exit):
		// A non-zero exit is a result: Code says which.
	case err != nil:
		return Result{}, fmt.Errorf("running %s: %w", p.Binary, err)
	}
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}, nil
}

// Start runs the plugin in dir in the background; the test's clean-up kills it if it is
// still running. The environment holds HOME, PATH and env only.
func (p Plugin) Start(t testing.TB, dir string, env []string, args ...string) *Process {
	t.Helper()
	r := &Process{done: make(chan struct{})}
	r.cmd = exec.Command(p.Binary, append([]string{"--kubeconfig", p.Kubeconfig}, args...)...)
	r.cmd.Dir = dir
	r.cmd.Env = append([]string{"HOME=" + p.Home, "PATH=" + os.Getenv("PATH")}, env...)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", p.Binary, err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); <-r.done })
	return r
}

// Process is a plugin process started in the background.
type Process struct {
	cmd            *exec.Cmd
	stdout, stderr buffer
	done           chan struct{}
}

// Stdout is what the process has printed on standard output so far.
func (r *Process) Stdout() string { return r.stdout.String() }

// Stderr is what the process has printed on standard error so far.
func (r *Process) Stderr() string { return r.stderr.String() }

// Exit waits for the process to end and returns its exit code; it fails the test if the
// process is still running after within.
func (r *Process) Exit(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("still running after %s; stderr:\n%s", within, r.Stderr())
		return -1
	}
}

// WaitFor waits until the process has printed want on standard error, and fails the test
// if it has not within the given time.
func (r *Process) WaitFor(t testing.TB, want string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(r.Stderr(), want) {
			return
		}
	}
	t.Fatalf("%q never appeared on stderr within %s:\n%s", want, within, r.Stderr())
}

// Interrupt sends SIGINT, as Ctrl-C in a terminal does.
func (r *Process) Interrupt(t testing.TB) {
	t.Helper()
	r.Signal(t, syscall.SIGINT)
}

// Signal sends sig to the plugin, as a closed terminal (SIGHUP) or kill (SIGTERM) would.
func (r *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling the plugin: %v", err)
	}
}

// buffer is a bytes.Buffer the process writes while the test reads it.
type buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// CopyModel copies the model directory src (an example) into a temporary directory and
// returns it. In kaptain.yaml, each key of replace is replaced, once, by its value; a key
// that is not there fails the test.
func CopyModel(t testing.TB, src string, replace map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		if e.Name() == "kaptain.yaml" {
			for old, repl := range replace {
				if !strings.Contains(s, old) {
					t.Fatalf("%s has no %q", filepath.Join(src, e.Name()), old)
				}
				s = strings.Replace(s, old, repl, 1)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
