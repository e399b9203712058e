package local

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// TailLines is how many of a failed process's last lines an error carries.
const TailLines = 20

// maxLine bounds a line of output; a longer one is cut there.
const maxLine = 1 << 20

// StopGrace is how long a stopped process has, after SIGTERM, before it is killed.
const StopGrace = 5 * time.Second

// Runner starts processes in a working directory and gathers their output.
type Runner struct {
	// Dir is every process's working directory.
	Dir string
	// Out receives each line of every process, prefixed with [NAME] (Prefix) when set; nil
	// drops the lines.
	Out io.Writer
	// Prefix is what goes before the process's name in Out, e.g. "trial-3/".
	Prefix string
	// Line, when set, is called with each line of the first process (the primary replica,
	// whose output a Katib trial's metrics are read from), in order.
	Line func(line string)
	// Environ is the environment the plan's variables are set over; os.Environ() when nil.
	Environ []string
}

// ExitError is a process that ended with an error: its name, how it ended and its last lines.
type ExitError struct {
	Name  string
	Err   error
	Lines []string
}

func (e *ExitError) Error() string {
	how := e.Err.Error()
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		if ee.ExitCode() >= 0 {
			how = fmt.Sprintf("exited with code %d", ee.ExitCode())
		} else {
			how = "was ended by " + ee.String()
		}
	}
	msg := e.Name + " " + how
	if len(e.Lines) > 0 {
		msg += "; its last lines:\n  " + strings.Join(e.Lines, "\n  ")
	}
	return msg
}

func (e *ExitError) Unwrap() error { return e.Err }

// Run starts every process at once and waits for all of them. When one fails, the others are
// stopped (as a job fails when a replica does) and its ExitError is returned; when ctx ends
// first, every process is stopped (SIGTERM to its process group, SIGKILL after StopGrace) and
// ctx's error is returned. No process outlives Run.
func (r Runner) Run(ctx context.Context, procs []Process) error {
	if len(procs) == 0 {
		return errors.New("no processes to run")
	}
	environ := r.Environ
	if environ == nil {
		environ = os.Environ()
	}
	var out sync.Mutex
	cmds := make([]*exec.Cmd, len(procs))
	tails := make([]*tail, len(procs))
	var readers sync.WaitGroup
	stopAll := func() {
		for _, c := range cmds {
			if c != nil && c.Process != nil {
				// The process group: a trainer's own children (a DataLoader's workers) go too.
				terminateGroup(c.Process.Pid)
			}
		}
	}
	for i, p := range procs {
		c := exec.Command(p.Argv[0], p.Argv[1:]...) //nolint:gosec // running the model's trainer is the job of a local run
		c.Dir, c.Env = r.Dir, Environ(environ, p.Env)
		ownGroup(c)
		pr, pw, err := os.Pipe()
		if err != nil {
			stopAll()
			return fmt.Errorf("starting %s: %w", p.Name, err)
		}
		c.Stdout, c.Stderr = pw, pw
		if err := c.Start(); err != nil {
			pr.Close()
			pw.Close()
			stopAll()
			readers.Wait()
			waitAll(cmds)
			return fmt.Errorf("starting %s: %w", p.Name, err)
		}
		pw.Close()
		cmds[i], tails[i] = c, &tail{max: TailLines}
		readers.Add(1)
		go func(i int, name string) {
			defer readers.Done()
			defer pr.Close()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64*1024), maxLine)
			for sc.Scan() {
				line := sc.Text()
				tails[i].add(line)
				if i == 0 && r.Line != nil {
					r.Line(line)
				}
				if r.Out != nil {
					out.Lock()
					fmt.Fprintf(r.Out, "[%s%s] %s\n", r.Prefix, name, line)
					out.Unlock()
				}
			}
			// A line too long for the scanner: drain the rest so the process does not block.
			_, _ = io.Copy(io.Discard, pr)
		}(i, p.Name)
	}
	type exit struct {
		i   int
		err error
	}
	exits := make(chan exit, len(cmds))
	for i, c := range cmds {
		go func() { exits <- exit{i, c.Wait()} }()
	}
	var first *ExitError
	var killed <-chan time.Time
	stopping := false
	for range cmds {
		var e exit
		for got := false; !got; {
			select {
			case e = <-exits:
				got = true
			case <-ctx.Done():
				if !stopping {
					stopping = true
					stopAll()
					killed = time.After(StopGrace)
				}
				ctx = context.Background() // stop once
			case <-killed:
				for _, c := range cmds {
					killGroup(c.Process.Pid)
				}
				killed = nil
			}
		}
		if e.err != nil && first == nil && !stopping {
			first = &ExitError{Name: procs[e.i].Name, Err: e.err}
			stopping = true
			stopAll()
			killed = time.After(StopGrace)
		}
	}
	// What is left of each process group (a child that ignored SIGTERM, or a straggler of a
	// process that ended well) is killed, and Run returns once it is gone.
	for _, c := range cmds {
		reap(c.Process.Pid)
	}
	readers.Wait()
	if first != nil {
		for i, p := range procs {
			if p.Name == first.Name {
				first.Lines = tails[i].lines()
			}
		}
		return first
	}
	if stopping {
		return context.Canceled
	}
	return nil
}

// waitAll reaps the processes started.
func waitAll(cmds []*exec.Cmd) {
	for _, c := range cmds {
		if c != nil && c.Process != nil {
			_ = c.Wait()
		}
	}
}

// tail keeps the last lines written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, line)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

func (t *tail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}
