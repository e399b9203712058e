// Package run executes an action's lifecycle, the same for every command that changes the
// cluster: render the objects, print them (client dry run) or apply them, wait by watch for
// the action's object with a progress line per change, follow its pods' logs and keep the
// failed ones' last lines, classify the end (success, failure, timeout), remove what the
// action created on Ctrl-C or when asked, and record the result in the model's history.
//
// Commands build an Action and call Run; the engine never sees flags or cobra.
package run

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

// Clients are what an action needs of the cluster. A client dry run needs none of them.
type Clients struct {
	Dynamic dynamic.Interface
	Pods    corev1client.PodsGetter
	Mapper  meta.RESTMapper
	// Records keeps the model's history; nil records nothing.
	Records Recorder
}

// Recorder adds a finished action to a model's history.
type Recorder interface {
	Record(ctx context.Context, a track.Action) error
}

var _ Recorder = track.Recorder{}

// Action is one lifecycle: what to create, how to show it, what to wait for, what to remove
// and what to record.
type Action struct {
	// Objects are the workload objects as the builders made them.
	Objects []*unstructured.Unstructured
	// Render sets namespace, labels, owner links and the user's patches: this action's own.
	Render render.Options
	// Mode says whether the action applies, or prints without contacting the cluster (a
	// client dry run) or applies with dryRun=All (a server dry run); no dry run waits,
	// removes nor records.
	Mode           Mode
	ForceConflicts bool
	// Print shows what was applied, or would be; nil prints nothing.
	Print func([]apply.Result) error
	// Accept, when set, checks the objects as the cluster took them (a server dry run's
	// too), before the wait: an error removes what the action created and ends it.
	Accept func([]apply.Result) error
	// Applied, when set, is called once the objects are applied, before the wait.
	Applied func(*Outcome)
	// Wait, when set, watches one of the objects until it finishes.
	Wait *Wait
	// Remove says when what the action created is removed after the wait.
	Remove Removal
	// KeepOnInterrupt keeps what the action created when Ctrl-C ends its wait, and records
	// the interruption: for changes to an object that existed, whose new dependents (a
	// ServiceAccount it now names) must not go from under it.
	KeepOnInterrupt bool
	// Record says what to add to the model's history, or nil for nothing. It is called once
	// the action ended, except after a dry run or Ctrl-C.
	Record func(*Outcome) *track.Action
}

// Wait is what to watch and how to read it.
type Wait struct {
	// Kind and Name identify the watched object among the action's objects.
	Kind schema.GroupVersionKind
	Name string
	// Timeout bounds the wait.
	Timeout time.Duration
	// State reads a version of the object.
	State func(*unstructured.Unstructured) State
	// Pods, when set, watches the object's pods.
	Pods *Pods
	// FailClass classifies a failed object; TimeoutClass a wait that timed out (Timeout
	// when unset).
	FailClass, TimeoutClass sdkerr.Class
	// FailHint ends a failure's message; TimeoutHint a timeout's, or TimeoutSays, when set,
	// from the object's last version (nil when it was never seen).
	FailHint, TimeoutHint string
	TimeoutSays           func(ctx context.Context, last *unstructured.Unstructured) string
	// Explain, when set, adds what it knows of a failure or timeout (e.g. pod states).
	Explain func(ctx context.Context) string
	// Detail, when set, adds to a state's line what other objects say of the watched one
	// (e.g. why Kueue holds a job in its queue), or "" for nothing. Those objects change
	// without the watched one changing: it is asked again every DetailEvery (10 s when 0)
	// until the wait ends, and a line is printed when the result changes.
	Detail      func(ctx context.Context, obj *unstructured.Unstructured, st State) string
	DetailEvery time.Duration
}

// State is what the engine needs of one version of the watched object.
type State struct {
	// Line describes it in a progress line, printed when it changes.
	Line string
	// Done ends the wait.
	Done bool
	// Failure, when set, ends the wait as failed; it follows the object's name in the
	// error, e.g. "failed: 1 Worker replica failed".
	Failure string
	// Class, when set, classifies the failure instead of the wait's FailClass: a workload
	// that cannot progress (WorkloadDeployment) rather than one that ran and failed.
	Class sdkerr.Class
}

// Pods says how the watched object's pods are followed.
type Pods struct {
	Selector string
	// Name names a pod in messages, e.g. "replica worker-0".
	Name func(*corev1.Pod) string
	// Problem says why a pod cannot run, if it cannot; ProblemClass classifies that
	// (WorkloadDeployment when unset).
	Problem      func(*corev1.Pod) (reason, message string, bad bool)
	ProblemClass sdkerr.Class
	// Logs, when set, receives the log lines of every pod LogSelector selects among them (all
	// of them when empty), each prefixed with LogPrefix(pod).
	Logs        io.Writer
	LogPrefix   func(*corev1.Pod) string
	LogSelector string
	// FailureLines, when positive, keeps that many last lines of each failed container for
	// the failure's message, read when the exit is seen (pods may go before the object fails);
	// FailureNoun names what failed in it ("replica" when unset).
	FailureLines int64
	FailureNoun  string
	// Observe sees every version of every pod.
	Observe func(*corev1.Pod)
	// Tolerate, when set, is asked about each problem Problem reports, when the pod changes
	// and every TolerateEvery (10 s when 0): a non-empty line keeps the wait going (printed
	// when it changes) for at most bound from when that line first appeared (no bound when 0);
	// "" or a line past its bound ends the wait with the problem. A cluster autoscaler adding
	// a node for an unschedulable pod, or a first image pull error, heal by themselves.
	Tolerate      func(ctx context.Context, pod *corev1.Pod, reason, message string) (line string, bound time.Duration)
	TolerateEvery time.Duration
}

// Removal says when an action's created objects are removed after its wait.
type Removal struct {
	When RemoveWhen
	// Reason is printed in parentheses after the removal, e.g. "--force-cleanup".
	Reason string
	// What names what was removed in that line; the created objects when empty.
	What string
	// OnceDone lists kinds of the created objects removed once the wait saw the workload
	// finish (succeeded or failed) and When keeps the rest: credentials a finished workload
	// no longer needs. A timeout or a wait ended early (the workload still runs, or may)
	// removes nothing, unless OnTimeout says so.
	OnceDone []string
	// OnTimeout lists kinds of the created objects removed when the wait timed out or could
	// not watch: for a workload whose own deadline is the wait's (a build Job's
	// activeDeadlineSeconds), so that its credentials do not outlive it.
	OnTimeout []string
}

// RemoveWhen is a removal policy.
type RemoveWhen int

// Removal policies. Ctrl-C always removes what the action created.
const (
	Keep RemoveWhen = iota
	// WhenFinished removes once the object finished, succeeded or failed.
	WhenFinished
	// WhenSucceeded removes once the object succeeded, keeping a failure for inspection.
	WhenSucceeded
)

// Outcome is what an action did.
type Outcome struct {
	// Results are the objects as applied (or, for a client dry run, as rendered).
	Results []apply.Result
	// Created are the objects this action created.
	Created []*unstructured.Unstructured
	// Final is the watched object's last version, and State its reading.
	Final *unstructured.Unstructured
	State State
	// Applied, Waited and TimedOut say how far the action went; Err is how it ended.
	Applied, Waited, TimedOut bool
	Err                       error
}

// Run executes a, printing progress to p.
func Run(ctx context.Context, c Clients, a Action, p Progress) (*Outcome, error) {
	nodes, err := render.Render(a.Objects, a.Render)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "")
	}
	rendered, err := render.Objects(nodes)
	if err != nil {
		return nil, err
	}
	out := &Outcome{}
	if a.Mode.Offline() {
		for _, obj := range rendered {
			out.Results = append(out.Results, apply.Result{Object: obj, Operation: apply.Created})
		}
		return out, a.print(out.Results)
	}
	applier := &apply.Applier{Client: c.Dynamic, Mapper: c.Mapper, DryRun: a.Mode.ServerSide(), ForceConflicts: a.ForceConflicts}
	results, err := applier.Apply(ctx, rendered)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C while applying: Apply removed what it had created.
		return nil, sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; nothing was left behind")
	}
	if err != nil {
		out.Err = err
		a.record(ctx, c, out, p)
		return out, err
	}
	out.Results, out.Applied = results, true
	for _, r := range results {
		if r.Operation == apply.Created {
			out.Created = append(out.Created, r.Object)
		}
	}
	if a.Accept != nil {
		if err := a.Accept(results); err != nil {
			out.Err = err
			if a.Mode.ServerSide() || len(out.Created) == 0 {
				return out, err
			}
			if derr := applier.Delete(out.Created); derr != nil {
				return out, errors.Join(err, derr)
			}
			p.Printf("removed %s", Describe(out.Created))
			return out, err
		}
	}
	if err := a.print(results); err != nil {
		return out, err
	}
	if a.Mode.ServerSide() {
		return out, nil
	}
	if a.Applied != nil {
		a.Applied(out)
	}
	if a.Wait != nil {
		out.Final, out.State, out.Err = WaitFor(ctx, c, a.Render.Namespace, *a.Wait, p)
		out.Waited = true
		// A wait the API server refused ended as a timeout does: without knowing the end.
		out.TimedOut = errors.Is(out.Err, errTimeout) || errors.Is(out.Err, ErrCannotWatch)
		if errors.Is(out.Err, context.Canceled) && ctx.Err() != nil {
			if a.KeepOnInterrupt {
				out.Err = sdkerr.New(sdkerr.Interrupted, "interrupted; kept %s", Describe(out.Created))
				a.record(ctx, c, out, p)
				return out, out.Err
			}
			if err := applier.Delete(out.Created); err != nil {
				return out, sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; cleaning up")
			}
			return out, sdkerr.New(sdkerr.Interrupted, "interrupted; removed %s", Describe(out.Created))
		}
	}
	a.record(ctx, c, out, p)
	if a.removes(out) {
		what := a.Remove.What
		if what == "" {
			what = Describe(out.Created)
		}
		switch err := applier.Delete(out.Created); {
		case err != nil && a.Remove.When == WhenSucceeded:
			p.Printf("warning: %v", err)
		case err != nil:
			return out, errors.Join(out.Err, err)
		case a.Remove.Reason != "":
			p.Printf("removed %s (%s)", what, a.Remove.Reason)
		default:
			p.Printf("removed %s", what)
		}
	} else if kinds := a.Remove.partial(out); len(kinds) > 0 {
		var gone []*unstructured.Unstructured
		for _, obj := range out.Created {
			if slices.Contains(kinds, obj.GetKind()) {
				gone = append(gone, obj)
			}
		}
		if len(gone) > 0 {
			if err := applier.Delete(gone); err != nil {
				p.Printf("warning: %v", err)
			} else {
				p.Printf("removed %s; the rest is kept for inspection", Describe(gone))
			}
		}
	}
	return out, out.Err
}

func (a *Action) print(results []apply.Result) error {
	if a.Print == nil {
		return nil
	}
	return a.Print(results)
}

// partial returns the kinds of the created objects an outcome removes when it keeps the
// rest: OnceDone once the workload ended, OnTimeout when the wait timed out.
func (r Removal) partial(out *Outcome) []string {
	switch {
	case out.Ended():
		return r.OnceDone
	case out.Waited && out.TimedOut:
		return r.OnTimeout
	}
	return nil
}

// removes is true when the outcome calls for removing what the action created.
func (a *Action) removes(out *Outcome) bool {
	if !out.Waited || out.TimedOut {
		return false
	}
	switch a.Remove.When {
	case WhenFinished:
		return out.State.Done
	case WhenSucceeded:
		return out.Err == nil
	}
	return false
}

// record adds the outcome to the model's history; a failure to record is a warning, the
// action itself being done.
func (a *Action) record(ctx context.Context, c Clients, out *Outcome, p Progress) {
	if a.Record == nil || c.Records == nil || !a.Mode.Applies() {
		return
	}
	entry := a.Record(out)
	if entry == nil {
		return
	}
	if err := c.Records.Record(context.WithoutCancel(ctx), *entry); err != nil {
		p.Printf("warning: the model's record was not updated: %v", err)
	}
}

// Describe names objects as "secret x and tfjob y".
func Describe(objs []*unstructured.Unstructured) string {
	if len(objs) == 0 {
		return "nothing"
	}
	names := make([]string, len(objs))
	for i, obj := range objs {
		names[i] = strings.ToLower(obj.GetKind()) + " " + obj.GetName()
	}
	return strings.Join(names, " and ")
}

// Ref names an object as kubectl does, "kind.group/name" ("job.batch/x"; "pod/x" in the
// core group).
func Ref(gvk schema.GroupVersionKind, name string) string {
	kind := strings.ToLower(gvk.Kind)
	if gvk.Group != "" {
		kind += "." + gvk.Group
	}
	return kind + "/" + name
}

// errTimeout marks a wait that timed out, inside the classified error.
var errTimeout = errors.New("timed out")

// Ended reports whether an outcome's error is a finished object's failure rather than a
// timeout or an interruption.
func (o *Outcome) Ended() bool { return o.Waited && !o.TimedOut && o.State.Done }
