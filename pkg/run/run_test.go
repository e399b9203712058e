package run

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
)

const ns = "team-a"

var (
	widgetGVK = schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}
	widgets   = schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	secrets   = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// cluster is a fake cluster: dynamic and typed fakes whose server-side apply creates or
// merges, a RESTMapper for Secrets and Widgets, and a recorder of model history.
type cluster struct {
	dyn     *dynamicfake.FakeDynamicClient
	pods    *fake.Clientset
	records *recorder
}

type recorder struct {
	mu      sync.Mutex
	actions []track.Action
}

func (r *recorder) Record(_ context.Context, a track.Action) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.actions = append(r.actions, a)
	return nil
}

func (r *recorder) got() []track.Action {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]track.Action(nil), r.actions...)
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{widgets: "WidgetList", secrets: "SecretList"})
	dyn.PrependReactor("patch", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		pa, ok := action.(k8stesting.PatchActionImpl)
		if !ok || pa.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(pa.GetPatch()); err != nil {
			return true, nil, err
		}
		gvr, name := pa.GetResource(), pa.GetName()
		existing, err := dyn.Tracker().Get(gvr, pa.GetNamespace(), name)
		if len(pa.PatchOptions.DryRun) > 0 {
			return true, obj, nil
		}
		if apierrors.IsNotFound(err) {
			obj.SetUID(types.UID("uid-" + name))
			return true, obj, dyn.Tracker().Create(gvr, obj, pa.GetNamespace())
		}
		merged := existing.(*unstructured.Unstructured).DeepCopy()
		merged.SetOwnerReferences(obj.GetOwnerReferences())
		merged.SetLabels(obj.GetLabels())
		return true, merged, dyn.Tracker().Update(gvr, merged, pa.GetNamespace())
	})
	return &cluster{dyn: dyn, pods: fake.NewClientset(), records: &recorder{}}
}

func (c *cluster) clients() Clients {
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(widgetGVK, meta.RESTScopeNamespace)
	mapper.Add(corev1.SchemeGroupVersion.WithKind("Secret"), meta.RESTScopeNamespace)
	return Clients{Dynamic: c.dyn, Pods: c.pods.CoreV1(), Mapper: mapper, Records: c.records}
}

// exists is true when the named object is in the fake cluster.
func (c *cluster) exists(gvr schema.GroupVersionResource, name string) bool {
	_, err := c.dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

// await waits (bounded) until the apply is done, as the test's operator would: the widget
// exists and the Secret is linked to it (the apply's last step).
func (c *cluster) await(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	applied := func() bool {
		s, err := c.dyn.Resource(secrets).Namespace(ns).Get(context.Background(), "s", metav1.GetOptions{})
		return c.exists(widgets, "w") && err == nil && len(s.GetOwnerReferences()) == 1
	}
	for !applied() {
		if time.Now().After(deadline) {
			t.Fatal("the widget was never applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// setPhase plays the operator: it sets the widget's status.
func (c *cluster) setPhase(t *testing.T, phase, message string) {
	t.Helper()
	w, err := c.dyn.Resource(widgets).Namespace(ns).Get(context.Background(), "w", metav1.GetOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	_ = unstructured.SetNestedField(w.Object, phase, "status", "phase")
	_ = unstructured.SetNestedField(w.Object, message, "status", "message")
	if _, err := c.dyn.Resource(widgets).Namespace(ns).Update(context.Background(), w, metav1.UpdateOptions{}); err != nil {
		t.Error(err)
	}
}

func objects() []*unstructured.Unstructured {
	secret := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}, "stringData": map[string]any{"k": "v"}}}
	widget := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}, "spec": map[string]any{"size": int64(1)}}}
	return []*unstructured.Unstructured{secret, widget}
}

// action is a Widget with its Secret, waited for by status.phase.
func action(printed *[]apply.Result) Action {
	return Action{
		Objects: objects(),
		Render: render.Options{Namespace: ns, Labels: map[string]string{"app": "x", model.LabelManagedBy: model.ManagedByValue},
			Owner: &render.OwnerLinks{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", OwnedKinds: []string{"Secret"}}},
		Print: func(r []apply.Result) error { *printed = append(*printed, r...); return nil },
		Wait: &Wait{
			Kind: widgetGVK, Name: "w", Timeout: 10 * time.Second,
			State: func(obj *unstructured.Unstructured) State {
				phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
				msg, _, _ := unstructured.NestedString(obj.Object, "status", "message")
				st := State{Line: strings.ToLower(phase), Done: phase == "Succeeded" || phase == "Failed"}
				if st.Line == "" {
					st.Line = "pending"
				}
				if phase == "Failed" {
					st.Failure = "failed: " + msg
				}
				return st
			},
			FailClass: sdkerr.JobFailed,
		},
		Record: func(o *Outcome) *track.Action {
			return &track.Action{Name: "widget", Err: o.Err, Workload: map[bool]string{true: "timed out", false: ""}[o.TimedOut]}
		},
	}
}

type result struct {
	out *Outcome
	err error
}

// start runs a in the background.
func start(ctx context.Context, c *cluster, a Action, progress *bytes.Buffer) <-chan result {
	done := make(chan result, 1)
	go func() {
		out, err := Run(ctx, c.clients(), a, Progress{W: &syncWriter{b: progress}})
		done <- result{out, err}
	}()
	return done
}

func finish(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
		return result{}
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestRunSucceeds(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Remove = Removal{When: WhenSucceeded}
	done := start(context.Background(), c, a, &progress)
	c.await(t)
	secret, err := c.dyn.Resource(secrets).Namespace(ns).Get(context.Background(), "s", metav1.GetOptions{})
	if err != nil || len(secret.GetOwnerReferences()) != 1 || secret.GetOwnerReferences()[0].Name != "w" || secret.GetLabels()["app"] != "x" {
		t.Errorf("the Secret is not owned by the widget and labelled: %v, %v", err, secret)
	}
	c.setPhase(t, "Running", "")
	c.setPhase(t, "Succeeded", "")
	r := finish(t, done)
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	if len(printed) != 2 || printed[0].Operation != apply.Created || len(r.out.Created) != 2 {
		t.Errorf("printed %v, created %d", printed, len(r.out.Created))
	}
	if !r.out.Ended() || r.out.State.Line != "succeeded" {
		t.Errorf("outcome %+v", r.out)
	}
	if got := progress.String(); !strings.Contains(got, "widget.example.com/w succeeded\n") || !strings.Contains(got, "removed secret s and widget w\n") {
		t.Errorf("progress:\n%s", got)
	}
	if c.exists(widgets, "w") || c.exists(secrets, "s") {
		t.Error("WhenSucceeded left the objects")
	}
	if rec := c.records.got(); len(rec) != 1 || rec[0].Err != nil {
		t.Errorf("records %+v", rec)
	}
}

// TestRunDetailIsAskedAgainWhileWaiting: what other objects say of the watched one (a queue)
// changes without it changing; the wait asks again and prints a line when the answer changes.
func TestRunDetailIsAskedAgainWhileWaiting(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	var mu sync.Mutex
	detail := "queued behind 2 jobs"
	a.Wait.Detail = func(_ context.Context, _ *unstructured.Unstructured, _ State) string {
		mu.Lock()
		defer mu.Unlock()
		return detail
	}
	a.Wait.DetailEvery = 20 * time.Millisecond
	sw := &syncWriter{b: &progress}
	done := make(chan result, 1)
	go func() {
		out, err := Run(context.Background(), c.clients(), a, Progress{W: sw})
		done <- result{out, err}
	}()
	c.await(t)
	printedSoFar := func() string {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		return progress.String()
	}
	line := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(printedSoFar(), want) {
				return
			}
		}
		t.Fatalf("no line %q in:\n%s", want, printedSoFar())
	}
	line("widget.example.com/w pending: queued behind 2 jobs\n")
	mu.Lock()
	detail = "queued behind 1 job"
	mu.Unlock()
	line("widget.example.com/w pending: queued behind 1 job\n")
	c.setPhase(t, "Succeeded", "")
	if r := finish(t, done); r.err != nil {
		t.Fatal(r.err)
	}
	if got := printedSoFar(); strings.Contains(got, "succeeded: queued") || !strings.Contains(got, "widget.example.com/w succeeded\n") {
		t.Errorf("a finished state carries the detail:\n%s", got)
	}
}

func TestRunFailureKeepsTheObjectsAndRecordsTheError(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Remove = Removal{When: WhenSucceeded}
	a.Wait.FailHint = "; kept for inspection"
	done := start(context.Background(), c, a, &progress)
	c.await(t)
	c.setPhase(t, "Failed", "boom")
	r := finish(t, done)
	if sdkerr.ClassOf(r.err) != sdkerr.JobFailed || r.err.Error() != "widget.example.com/w failed: boom; kept for inspection" {
		t.Errorf("error %v (class %s)", r.err, sdkerr.ClassOf(r.err))
	}
	if !c.exists(widgets, "w") || !c.exists(secrets, "s") {
		t.Error("a failure removed the objects")
	}
	if rec := c.records.got(); len(rec) != 1 || rec[0].Err == nil {
		t.Errorf("records %+v", rec)
	}
}

func TestRunWhenFinishedRemovesAFailure(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Remove = Removal{When: WhenFinished, Reason: "--force-cleanup", What: "the widget"}
	done := start(context.Background(), c, a, &progress)
	c.await(t)
	c.setPhase(t, "Failed", "boom")
	if r := finish(t, done); sdkerr.ClassOf(r.err) != sdkerr.JobFailed {
		t.Errorf("error %v", r.err)
	}
	if c.exists(widgets, "w") || !strings.Contains(progress.String(), "removed the widget (--force-cleanup)") {
		t.Errorf("WhenFinished kept the failed widget; progress:\n%s", progress.String())
	}
}

func TestRunTimeoutKeepsEverything(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Wait.Timeout = 200 * time.Millisecond
	a.Wait.TimeoutHint = "; it keeps running"
	a.Remove = Removal{When: WhenFinished}
	r := finish(t, start(context.Background(), c, a, &progress))
	want := "timed out after 200ms waiting for widget.example.com/w (last state: pending); it keeps running"
	if sdkerr.ClassOf(r.err) != sdkerr.Timeout || r.err.Error() != want {
		t.Errorf("error %q (class %s), want %q", r.err, sdkerr.ClassOf(r.err), want)
	}
	if !r.out.TimedOut || r.out.Ended() {
		t.Errorf("outcome %+v", r.out)
	}
	if !c.exists(widgets, "w") {
		t.Error("a timeout removed the widget")
	}
	if rec := c.records.got(); len(rec) != 1 || rec[0].Workload != "timed out" {
		t.Errorf("the record hook did not see the timeout: %+v", rec)
	}
}

// TestRunWatchRefusedEndsTheWait: a watch the API server refuses for good (here 403) ends the
// wait at once, instead of retrying in silence until the timeout; the objects are kept.
func TestRunWatchRefusedEndsTheWait(t *testing.T) {
	c := newCluster(t)
	c.dyn.PrependWatchReactor("widgets", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "example.com", Resource: "widgets"}, "", errors.New("no watch for you"))
	})
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Wait.Timeout = time.Minute
	a.Wait.TimeoutHint = "; it keeps running"
	a.Remove = Removal{When: WhenFinished}
	began := time.Now()
	r := finish(t, start(context.Background(), c, a, &progress))
	if !errors.Is(r.err, ErrCannotWatch) || !strings.Contains(r.err.Error(), "waiting for widget.example.com/w: cannot watch widgets: ") || !strings.HasSuffix(r.err.Error(), "; it keeps running") {
		t.Errorf("error %v", r.err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("the refused watch ended the wait after %s", d)
	}
	if !r.out.TimedOut || !c.exists(widgets, "w") {
		t.Errorf("outcome %+v; the widget must stay", r.out)
	}
}

func TestRunInterruptRemovesWhatItCreated(t *testing.T) {
	c := newCluster(t)
	// A Secret of the same name that an earlier action made is configured, not created: it
	// stays.
	earlier := objects()[0]
	earlier.SetLabels(map[string]string{model.LabelManagedBy: model.ManagedByValue})
	if _, err := c.dyn.Resource(secrets).Namespace(ns).Create(context.Background(), earlier, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var printed []apply.Result
	var progress bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := start(ctx, c, action(&printed), &progress)
	c.await(t)
	cancel()
	r := finish(t, done)
	if sdkerr.ClassOf(r.err) != sdkerr.Interrupted || r.err.Error() != "interrupted; removed widget w" {
		t.Errorf("error %v (class %s)", r.err, sdkerr.ClassOf(r.err))
	}
	if c.exists(widgets, "w") || !c.exists(secrets, "s") {
		t.Error("Ctrl-C must remove the widget it created and keep the Secret it did not")
	}
	if rec := c.records.got(); len(rec) != 0 {
		t.Errorf("an interrupted action was recorded: %+v", rec)
	}
}

// TestRunRefusesToTakeOverAnotherObject: an object of the same name that kaptain did not make
// (another team's Secret) is neither adopted nor merged into: the action stops before its
// workload, and the Secret is as it was (the audit's N13).
func TestRunRefusesToTakeOverAnotherObject(t *testing.T) {
	c := newCluster(t)
	theirs := objects()[0]
	theirs.SetLabels(map[string]string{"team": "b"})
	if _, err := c.dyn.Resource(secrets).Namespace(ns).Create(context.Background(), theirs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var printed []apply.Result
	var progress bytes.Buffer
	r := finish(t, start(context.Background(), c, action(&printed), &progress))
	if sdkerr.ClassOf(r.err) != sdkerr.WorkloadDeployment || !strings.Contains(r.err.Error(), "secret s exists and was not made by kubectl kaptain") {
		t.Fatalf("error %v (class %s)", r.err, sdkerr.ClassOf(r.err))
	}
	if c.exists(widgets, "w") {
		t.Error("the workload was created")
	}
	s, err := c.dyn.Resource(secrets).Namespace(ns).Get(context.Background(), "s", metav1.GetOptions{})
	if err != nil || s.GetLabels()["team"] != "b" || len(s.GetOwnerReferences()) != 0 {
		t.Errorf("their Secret changed: %v %v", s, err)
	}
}

func TestRunInterruptKeepsWhatAChangeNeedsWhenAsked(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.KeepOnInterrupt = true
	ctx, cancel := context.WithCancel(context.Background())
	done := start(ctx, c, a, &progress)
	c.await(t)
	cancel()
	r := finish(t, done)
	if sdkerr.ClassOf(r.err) != sdkerr.Interrupted || r.err.Error() != "interrupted; kept secret s and widget w" {
		t.Errorf("error %v (class %s)", r.err, sdkerr.ClassOf(r.err))
	}
	if !c.exists(widgets, "w") || !c.exists(secrets, "s") {
		t.Error("KeepOnInterrupt removed what the action created")
	}
	if rec := c.records.got(); len(rec) != 1 || rec[0].Err == nil {
		t.Errorf("the interruption was not recorded: %+v", rec)
	}
}

func TestServerDryRunRecordsNothingEvenWhenRefused(t *testing.T) {
	c := newCluster(t)
	c.dyn.PrependReactor("patch", "widgets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(widgets.GroupResource(), "w", errors.New("denied by the webhook"))
	})
	var printed []apply.Result
	a := action(&printed)
	a.Mode = ServerDryRun
	if _, err := Run(context.Background(), c.clients(), a, Progress{}); err == nil {
		t.Fatal("the refused server dry run succeeded")
	}
	if rec := c.records.got(); len(rec) != 0 {
		t.Errorf("a server dry run wrote the model's record: %+v", rec)
	}
}

func TestRunPartialApplyFailureLeavesNothing(t *testing.T) {
	c := newCluster(t)
	c.dyn.PrependReactor("patch", "widgets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(widgets.GroupResource(), "w", errors.New("denied by the webhook"))
	})
	var printed []apply.Result
	var progress bytes.Buffer
	r := finish(t, start(context.Background(), c, action(&printed), &progress))
	if sdkerr.ClassOf(r.err) != sdkerr.WorkloadDeployment || !strings.Contains(r.err.Error(), "denied by the webhook") {
		t.Errorf("error %v (class %s)", r.err, sdkerr.ClassOf(r.err))
	}
	if c.exists(secrets, "s") {
		t.Error("the Secret applied before the refused widget was left behind")
	}
	if len(printed) != 0 {
		t.Errorf("printed %v after a failed apply", printed)
	}
	if rec := c.records.got(); len(rec) != 1 || rec[0].Err == nil {
		t.Errorf("the refused action was not recorded as failed: %+v", rec)
	}
}

func TestRunPodThatCannotRunFailsTheWait(t *testing.T) {
	c := newCluster(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w-0", Namespace: ns, Labels: map[string]string{"widget": "w"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "no nodes"}}}}
	if _, err := c.pods.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Wait.Pods = &Pods{
		Selector: "widget=w", ProblemClass: sdkerr.WorkloadDeployment,
		Name: func(p *corev1.Pod) string { return "replica " + p.Name },
		Problem: func(p *corev1.Pod) (string, string, bool) {
			for _, cond := range p.Status.Conditions {
				if cond.Reason == "Unschedulable" {
					return cond.Reason, cond.Message, true
				}
			}
			return "", "", false
		},
	}
	r := finish(t, start(context.Background(), c, a, &progress))
	want := "widget.example.com/w: replica w-0 (pod w-0) cannot run: Unschedulable: no nodes"
	if sdkerr.ClassOf(r.err) != sdkerr.WorkloadDeployment || r.err.Error() != want {
		t.Errorf("error %q (class %s), want %q", r.err, sdkerr.ClassOf(r.err), want)
	}
}

func TestClientDryRunPrintsAndContactsNothing(t *testing.T) {
	var printed []apply.Result
	a := action(&printed)
	a.Mode = ClientDryRun
	// No clients at all: any call to the cluster would panic.
	out, err := Run(context.Background(), Clients{}, a, Progress{})
	if err != nil {
		t.Fatal(err)
	}
	if len(printed) != 2 || out.Waited || printed[1].Object.GetNamespace() != ns || printed[0].Object.GetLabels()["app"] != "x" {
		t.Errorf("printed %v, outcome %+v", printed, out)
	}
}

func TestServerDryRunAppliesNothingAndDoesNotWait(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	a := action(&printed)
	a.Mode = ServerDryRun
	out, err := Run(context.Background(), c.clients(), a, Progress{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Waited || len(printed) != 2 || c.exists(widgets, "w") || len(c.records.got()) != 0 {
		t.Errorf("server dry run: outcome %+v, printed %d, widget exists %v, records %v", out, len(printed), c.exists(widgets, "w"), c.records.got())
	}
}

func TestRef(t *testing.T) {
	for _, tc := range []struct {
		gvk  schema.GroupVersionKind
		want string
	}{
		{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, "job.batch/x"},
		{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "secret/x"},
		{schema.GroupVersionKind{Group: "kubeflow.org", Version: "v1", Kind: "TFJob"}, "tfjob.kubeflow.org/x"},
	} {
		if got := Ref(tc.gvk, "x"); got != tc.want {
			t.Errorf("Ref(%v) = %q, want %q", tc.gvk, got, tc.want)
		}
	}
}

// The fake clients do not stream lists with bookmarks (WatchList); the reflector must list.
func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

// unschedulable is a widget's pod that cannot be scheduled, and the Pods that report it.
func unschedulable(t *testing.T, c *cluster) *Pods {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w-0", Namespace: ns, UID: "u-0", Labels: map[string]string{"widget": "w"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "no nodes"}}}}
	if _, err := c.pods.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return &Pods{
		Selector: "widget=w", ProblemClass: sdkerr.WorkloadDeployment,
		Name: func(p *corev1.Pod) string { return "replica " + p.Name },
		Problem: func(p *corev1.Pod) (string, string, bool) {
			for _, cond := range p.Status.Conditions {
				if cond.Reason == "Unschedulable" && cond.Status == corev1.ConditionFalse {
					return cond.Reason, cond.Message, true
				}
			}
			return "", "", false
		},
		Tolerate: func(_ context.Context, p *corev1.Pod, _, _ string) (string, time.Duration) {
			return "pod " + p.Name + " waits for a new node", 300 * time.Millisecond
		},
		TolerateEvery: 50 * time.Millisecond,
	}
}

func TestRunToleratedProblemEndsTheWaitAfterItsBound(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Wait.Pods = unschedulable(t, c)
	began := time.Now()
	r := finish(t, start(context.Background(), c, a, &progress))
	want := "widget.example.com/w: replica w-0 (pod w-0) cannot run: Unschedulable: no nodes; still so after 300ms"
	if sdkerr.ClassOf(r.err) != sdkerr.WorkloadDeployment || r.err.Error() != want {
		t.Errorf("error %q (class %s), want %q", r.err, sdkerr.ClassOf(r.err), want)
	}
	if took := time.Since(began); took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("the wait ended after %s, want its bound", took)
	}
	if strings.Count(progress.String(), "pod w-0 waits for a new node") != 1 {
		t.Errorf("the tolerance line is not printed once:\n%s", progress.String())
	}
}

func TestRunToleratedProblemThatHealsKeepsWaiting(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Wait.Pods = unschedulable(t, c)
	a.Wait.Pods.Tolerate = func(_ context.Context, p *corev1.Pod, _, _ string) (string, time.Duration) {
		return "pod " + p.Name + " waits for a new node", 2 * time.Second
	}
	done := start(context.Background(), c, a, &progress)
	c.await(t)
	// The node comes: the pod is scheduled, then the widget succeeds after the bound passed.
	pod, err := c.pods.CoreV1().Pods(ns).Get(context.Background(), "w-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}
	if _, err := c.pods.CoreV1().Pods(ns).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond)
	c.setPhase(t, "Succeeded", "")
	if r := finish(t, done); r.err != nil {
		t.Fatalf("a healed problem still ended the wait: %v\n%s", r.err, progress.String())
	}
	if !strings.Contains(progress.String(), "pod w-0 waits for a new node") {
		t.Errorf("no tolerance line:\n%s", progress.String())
	}
}

func TestRunToleranceFollowsTheSituation(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Wait.Pods = unschedulable(t, c)
	// The autoscaler first has no verdict (a short bound), then adds a node (a long one), then
	// gives up: each is a new line, and giving up ends the wait.
	var asked sync.Mutex
	n := 0
	a.Wait.Pods.Tolerate = func(_ context.Context, _ *corev1.Pod, _, _ string) (string, time.Duration) {
		asked.Lock()
		defer asked.Unlock()
		n++
		switch {
		case n < 3:
			return "waiting for the autoscaler", time.Second
		case n < 6:
			return "a node is being added", time.Minute
		}
		return "", 0
	}
	r := finish(t, start(context.Background(), c, a, &progress))
	want := "widget.example.com/w: replica w-0 (pod w-0) cannot run: Unschedulable: no nodes"
	if r.err == nil || r.err.Error() != want {
		t.Errorf("error %v, want %q", r.err, want)
	}
	if out := progress.String(); strings.Count(out, "waiting for the autoscaler") != 1 || strings.Count(out, "a node is being added") != 1 {
		t.Errorf("progress:\n%s", out)
	}
}

func TestRunFailureRemovesTheKindsAskedOnly(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Remove = Removal{When: WhenSucceeded, OnceDone: []string{"Secret"}}
	done := start(context.Background(), c, a, &progress)
	c.await(t)
	c.setPhase(t, "Failed", "boom")
	r := finish(t, done)
	if sdkerr.ClassOf(r.err) != sdkerr.JobFailed {
		t.Errorf("error %v (class %s)", r.err, sdkerr.ClassOf(r.err))
	}
	if !c.exists(widgets, "w") || c.exists(secrets, "s") {
		t.Errorf("after a failure: widget kept %v, secret kept %v; want the widget only", c.exists(widgets, "w"), c.exists(secrets, "s"))
	}
	if !strings.Contains(progress.String(), "removed secret s; the rest is kept for inspection") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestRunTimeoutRemovesNothingEvenOnceDoneKinds(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Remove = Removal{When: WhenSucceeded, OnceDone: []string{"Secret"}}
	a.Wait.Timeout = 200 * time.Millisecond
	r := finish(t, start(context.Background(), c, a, &progress))
	if sdkerr.ClassOf(r.err) != sdkerr.Timeout || !c.exists(secrets, "s") {
		t.Errorf("a timeout: %v, secret kept %v (the workload still runs and needs it)", r.err, c.exists(secrets, "s"))
	}
}

// TestRunTimeoutRemovesOnTimeoutKinds: a workload whose own deadline is the wait's (a build
// Job) loses its credentials when the wait times out; the rest is kept (the audit's N4).
func TestRunTimeoutRemovesOnTimeoutKinds(t *testing.T) {
	c := newCluster(t)
	var printed []apply.Result
	var progress bytes.Buffer
	a := action(&printed)
	a.Remove = Removal{When: WhenSucceeded, OnceDone: []string{"Secret"}, OnTimeout: []string{"Secret"}}
	a.Wait.Timeout = 200 * time.Millisecond
	r := finish(t, start(context.Background(), c, a, &progress))
	if sdkerr.ClassOf(r.err) != sdkerr.Timeout {
		t.Fatalf("a timeout: %v", r.err)
	}
	if c.exists(secrets, "s") {
		t.Error("the Secret outlived the timed-out build")
	}
	if !strings.Contains(progress.String(), "the rest is kept for inspection") {
		t.Errorf("progress:\n%s", progress.String())
	}
}
