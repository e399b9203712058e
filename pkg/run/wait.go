package run

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

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
	// A tolerated pod problem that outlasts its bound cancels the wait with its error.
	waitCtx, cancelCause := context.WithCancelCause(waitCtx)
	defer cancelCause(nil)
	held := &heldPods{progress: p, cancel: cancelCause}
	if w.Pods != nil && w.Pods.Tolerate != nil {
		held.tolerate = w.Pods.Tolerate
		every := w.Pods.TolerateEvery
		if every <= 0 {
			every = 10 * time.Second
		}
		go held.watch(waitCtx, every)
	}
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
	streamed := labels.Everything()
	if pw := w.Pods; pw != nil {
		if pw.Logs != nil {
			streamer = &logs.Streamer{Pods: c.Pods, Out: pw.Logs, Prefix: pw.LogPrefix, Follow: true}
			if pw.LogSelector != "" {
				sel, err := labels.Parse(pw.LogSelector)
				if err != nil {
					return nil, state, fmt.Errorf("waiting for %s: the pods to log: %w", ref, err)
				}
				streamed = sel
			}
		}
		if pw.FailureLines > 0 {
			failures = &logs.Failures{Pods: c.Pods, Lines: pw.FailureLines, Prefix: pw.LogPrefix, Noun: pw.FailureNoun}
		}
		spec.PodSelector = pw.Selector
		spec.OnPod = func(pod *corev1.Pod) error {
			if pw.Problem != nil {
				if reason, msg, bad := pw.Problem(pod); bad {
					problem := sdkerr.New(classOr(pw.ProblemClass, sdkerr.WorkloadDeployment), "%s: %s (pod %s) cannot run: %s: %s%s", ref, pw.Name(pod), pod.Name, reason, msg, w.FailHint)
					return held.hold(waitCtx, pod, reason, msg, problem)
				}
				held.release(pod)
			}
			if pw.Observe != nil {
				pw.Observe(pod)
			}
			if streamer != nil && streamed.Matches(labels.Set(pod.Labels)) {
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
	if outlasted := held.err(); outlasted != nil && err != nil {
		return final, state, outlasted
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		lastState := "not started"
		if final != nil {
			lastState = w.State(final).Line
		}
		hint := w.TimeoutHint
		if w.TimeoutSays != nil {
			hint = w.TimeoutSays(context.WithoutCancel(ctx), final)
		}
		return final, state, &sdkerr.Error{Class: classOr(w.TimeoutClass, sdkerr.Timeout),
			Err: fmt.Errorf("%w after %s waiting for %s (last state: %s)%s%s", errTimeout, w.Timeout, ref, lastState, hint, explain(context.WithoutCancel(ctx)))}
	case errors.Is(err, ErrCannotWatch):
		return final, state, fmt.Errorf("waiting for %s: %w%s", ref, err, w.TimeoutHint)
	case err != nil:
		return final, state, err
	case state.Failure != "":
		tails := ""
		if failures != nil {
			tails = failureLogs(ctx, c, namespace, w.Pods, failures)
		}
		return final, state, sdkerr.New(classOr(state.Class, classOr(w.FailClass, sdkerr.JobFailed)), "%s %s%s%s%s", ref, state.Failure, w.FailHint, explain(ctx), tails)
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

// heldPods are pods whose problem a wait tolerates for a while. Each is asked about again
// when it changes and every period: a new line (a new situation) is printed and starts its
// bound again; a problem no longer tolerated, or one whose line outlasted its bound, ends
// the wait.
type heldPods struct {
	mu       sync.Mutex
	progress Progress
	tolerate func(ctx context.Context, pod *corev1.Pod, reason, message string) (string, time.Duration)
	cancel   context.CancelCauseFunc
	pods     map[types.UID]*heldPod
	failed   error
}

type heldPod struct {
	pod             *corev1.Pod
	reason, message string
	problem         error
	line            string
	since           time.Time
	bound           time.Duration
}

// hold asks whether pod's problem is tolerated, printing a new line; it returns the error that
// ends the wait when it is not.
func (h *heldPods) hold(ctx context.Context, pod *corev1.Pod, reason, message string, problem error) error {
	if h.tolerate == nil {
		return problem
	}
	line, bound := h.tolerate(ctx, pod, reason, message)
	h.mu.Lock()
	defer h.mu.Unlock()
	if line == "" {
		delete(h.pods, pod.UID)
		return problem
	}
	if h.pods == nil {
		h.pods = map[types.UID]*heldPod{}
	}
	p := h.pods[pod.UID]
	if p == nil {
		p = &heldPod{}
		h.pods[pod.UID] = p
	}
	p.pod, p.reason, p.message, p.problem = pod, reason, message, problem
	return h.update(p, line, bound)
}

// update records p's line; it returns an error when that line outlasted its bound.
func (h *heldPods) update(p *heldPod, line string, bound time.Duration) error {
	if p.line != line {
		h.progress.Printf("%s", line)
		p.line, p.since, p.bound = line, time.Now(), bound
	}
	if p.bound > 0 && time.Since(p.since) >= p.bound {
		return fmt.Errorf("%w; still so after %s", p.problem, p.bound)
	}
	return nil
}

// release forgets pod: it has no problem now.
func (h *heldPods) release(pod *corev1.Pod) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.pods, pod.UID)
}

// watch asks about the held pods every period until ctx ends, ending the wait (through
// cancel) when one is no longer tolerated.
func (h *heldPods) watch(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		h.mu.Lock()
		held := slices.Collect(maps.Values(h.pods))
		h.mu.Unlock()
		for _, p := range held {
			line, bound := h.tolerate(ctx, p.pod, p.reason, p.message)
			h.mu.Lock()
			err := p.problem
			if line != "" {
				err = h.update(p, line, bound)
			}
			if err != nil && h.failed == nil && ctx.Err() == nil {
				h.failed = err
				h.cancel(err)
			}
			h.mu.Unlock()
		}
	}
}

// err is the problem that ended the wait from watch, if one did.
func (h *heldPods) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failed
}
