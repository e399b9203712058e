package local

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// python returns python3 from PATH; the local loop runs it.
func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is not on PATH: %v", err)
	}
	return p
}

func script(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "main.py")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return "main.py"
}

func TestRunnerPrefixesAndPrimaryLines(t *testing.T) {
	dir := t.TempDir()
	main := script(t, dir, "import os, sys\nprint('rank', os.environ['RANK'], 'args', ' '.join(sys.argv[1:]))\nprint('accuracy=0.5', file=sys.stderr)\n")
	procs, err := Processes(Plan{Framework: "pytorch", Python: python(t), MainFile: main, Args: []string{"--lr=0.1"}, Workers: 2, Ports: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer // Run writes it under a lock of its own and returns after the last write
	var primary []string
	if err := (Runner{Dir: dir, Out: &out, Prefix: "trial-1/", Line: func(l string) { primary = append(primary, l) }}).Run(context.Background(), procs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[trial-1/worker-0] rank 0 args --lr=0.1\n", "[trial-1/worker-1] rank 1 args --lr=0.1\n", "[trial-1/worker-0] accuracy=0.5\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}
	if len(primary) != 2 || primary[0] != "rank 0 args --lr=0.1" {
		t.Errorf("primary lines %q, want worker-0's two", primary)
	}
}

func TestRunnerFailureStopsTheOthers(t *testing.T) {
	dir := t.TempDir()
	main := script(t, dir, `import os, sys, time
if os.environ["RANK"] == "1":
    for i in range(30):
        print("line", i)
    sys.exit(3)
time.sleep(60)
`)
	procs, err := Processes(Plan{Framework: "pytorch", Python: python(t), MainFile: main, Workers: 2, Ports: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = Runner{Dir: dir}.Run(context.Background(), procs)
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Name != "worker-1" {
		t.Fatalf("Run = %v, want worker-1's ExitError", err)
	}
	if len(exit.Lines) != TailLines || exit.Lines[TailLines-1] != "line 29" || !strings.Contains(err.Error(), "worker-1 exited with code 3; its last lines:") {
		t.Errorf("error %q with lines %q; want the exit code and the last %d lines", err, exit.Lines, TailLines)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run took %s: worker-0 was not stopped when worker-1 failed", d)
	}
}

func TestRunnerInterrupted(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	// The trainer starts a child of its own (a data loader's worker): it goes too.
	main := script(t, dir, `import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open("child.pid", "w").write(str(child.pid))
print("started", flush=True)
time.sleep(60)
`)
	procs, err := Processes(Plan{Framework: "xgboost", Python: python(t), MainFile: main, Workers: 1, Ports: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	go func() {
		<-started
		cancel()
	}()
	err = Runner{Dir: dir, Line: func(string) { once.Do(func() { close(started) }) }}.Run(ctx, procs)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	if _, err := os.Stat("/proc/" + pid); err == nil {
		if status, _ := os.ReadFile("/proc/" + pid + "/status"); !strings.Contains(string(status), "State:\tZ") {
			t.Errorf("the trainer's child %s outlived Run", pid)
		}
	}
}

func TestRunnerStartFailure(t *testing.T) {
	err := Runner{Dir: t.TempDir()}.Run(context.Background(), []Process{{Name: "worker-0", Argv: []string{"/nonexistent/python3", "-u", "m.py"}}})
	if err == nil || !strings.Contains(err.Error(), "starting worker-0") {
		t.Errorf("Run = %v, want a start error naming the process", err)
	}
}
