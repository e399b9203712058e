package run

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/logs"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// StreamDrain is how long the log streams of a finished wait may take to reach their end.
// A replica that still runs when its job ends is stopped by the operator with the pod's grace
// period (30 s by default), and its stream ends when it exits; a stream still open after
// this long is cut, with a line saying so, so that a node that never ends it cannot hold the
// command.
const StreamDrain = 35 * time.Second

// WaitFor watches w's object (and pods) in namespace until its state is done or failed, a
// pod cannot run, the timeout passes or ctx ends, printing a line per change of state. It
// returns the last version seen and its state. A failure, a pod that cannot run and a
// timeout are classified errors; Ctrl-C returns an error wrapping context.Canceled.
func WaitFor(ctx context.Context, c Clients, namespace string, w Wait, p Progress) (*unstructured.Unstructured, State, error) {
	mapping, err := c.Mapper.RESTMapping(w.Kind.GroupKind(), w.Kind.Version)
	if err != nil {
		return nil, State{}, fmt.Errorf("finding the resource of %s: %w", w.Kind.Kind, err)
	}
	ref := Ref(w.Kind, w.Name)
	var waitCtx context.Context
	var cancel context.CancelFunc
	if w.Timeout > 0 {
		waitCtx, cancel = context.WithTimeout(ctx, w.Timeout)
	} else {
		waitCtx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	var (
		mu    sync.Mutex // guards state, last and seen, shared with the detail poller
		state State
		last  string
		seen  *unstructured.Unstructured
	)
	// show prints the state's line, with its detail, when it changed.
	show := func(obj *unstructured.Unstructured, st State) {
		line := st.Line
		if w.Detail != nil && !st.Done && st.Failure == "" {
			if d := w.Detail(waitCtx, obj, st); d != "" {
				line += ": " + d
			}
		}
		if line != last {
			p.Printf("%s %s", ref, line)
			last = line
		}
	}
	spec := Watch{
		Resource: mapping.Resource, Namespace: namespace, Name: w.Name,
		Done: func(obj *unstructured.Unstructured) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			state, seen = w.State(obj), obj
			show(obj, state)
			return state.Done || state.Failure != "", nil
		},
	}
	if w.Detail != nil {
		every := w.DetailEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		pollCtx, stopPoll := context.WithCancel(waitCtx)
		defer stopPoll()
		go func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-pollCtx.Done():
					return
				case <-tick.C:
				}
				mu.Lock()
				if seen != nil && pollCtx.Err() == nil {
					show(seen, state)
				}
				mu.Unlock()
			}
		}()
	}
	var streamer *logs.Streamer
	var failures *logs.Failures
	if pw := w.Pods; pw != nil {
		if pw.Logs != nil {
			streamer = &logs.Streamer{Pods: c.Pods, Out: pw.Logs, Prefix: pw.LogPrefix, Follow: true}
		}
		if pw.FailureLines > 0 {
			failures = &logs.Failures{Pods: c.Pods, Lines: pw.FailureLines, Prefix: pw.LogPrefix, Noun: pw.FailureNoun}
		}
		spec.PodSelector = pw.Selector
		spec.OnPod = func(pod *corev1.Pod) error {
			if pw.Problem != nil {
				if reason, msg, bad := pw.Problem(pod); bad {
					return sdkerr.New(classOr(pw.ProblemClass, sdkerr.WorkloadDeployment), "%s: %s (pod %s) cannot run: %s: %s%s", ref, pw.Name(pod), pod.Name, reason, msg, w.FailHint)
				}
			}
			if pw.Observe != nil {
				pw.Observe(pod)
			}
			if streamer != nil {
				streamer.Attach(waitCtx, pod)
			}
			if failures != nil {
				failures.Observe(waitCtx, pod)
			}
			return nil
		}
	}
	final, err := (&Waiter{Client: c.Dynamic, Pods: c.Pods}).Wait(waitCtx, spec)
	mu.Lock() // the poller prints nothing more
	seen = nil
	mu.Unlock()
	EndStreams(streamer, err, cancel, p)
	explain := func(ctx context.Context) string {
		if w.Explain == nil {
			return ""
		}
		return w.Explain(ctx)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		lastState := "not started"
		if final != nil {
			lastState = w.State(final).Line
		}
		return final, state, &sdkerr.Error{Class: classOr(w.TimeoutClass, sdkerr.Timeout),
			Err: fmt.Errorf("%w after %s waiting for %s (last state: %s)%s%s", errTimeout, w.Timeout, ref, lastState, w.TimeoutHint, explain(context.WithoutCancel(ctx)))}
	case errors.Is(err, ErrCannotWatch):
		return final, state, fmt.Errorf("waiting for %s: %w%s", ref, err, w.TimeoutHint)
	case err != nil:
		return final, state, err
	case state.Failure != "":
		tails := ""
		if failures != nil {
			tails = failureLogs(ctx, c, namespace, w.Pods, failures)
		}
		return final, state, sdkerr.New(classOr(w.FailClass, sdkerr.JobFailed), "%s %s%s%s%s", ref, state.Failure, w.FailHint, explain(ctx), tails)
	}
	return final, state, nil
}

// failureLogs returns the last lines of the failed containers' logs, for the error message:
// those kept while waiting, and those of the pods still there.
func failureLogs(ctx context.Context, c Clients, namespace string, pw *Pods, failures *logs.Failures) string {
	list, err := c.Pods.Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: pw.Selector})
	if err == nil {
		for i := range list.Items {
			failures.Observe(ctx, &list.Items[i])
		}
	}
	if report := failures.Report(); report != "" {
		return report
	}
	if err != nil || len(list.Items) == 0 {
		return "\n(no logs: the pods are gone)"
	}
	return ""
}

// EndStreams waits for the log streams of a wait that ended: they are cut at once when the
// wait failed, and drained to their end (for at most StreamDrain) otherwise. A nil streamer
// is nothing to wait for.
func EndStreams(streamer *logs.Streamer, waitErr error, cancel context.CancelFunc, p Progress) {
	if streamer == nil {
		return
	}
	if waitErr != nil {
		cancel()
	}
	done := make(chan struct{})
	go func() { streamer.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(StreamDrain):
		p.Printf("log streams still open %s after the job ended were cut", StreamDrain)
		cancel()
		<-done
	}
}

func classOr(c, def sdkerr.Class) sdkerr.Class {
	if c == sdkerr.Unknown {
		return def
	}
	return c
}
