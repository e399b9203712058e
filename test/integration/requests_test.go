//go:build integration

package integration

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// counting counts the requests that pass through it.
type counting struct {
	next http.RoundTripper
	mu   *sync.Mutex
	seen *[]string
}

func (c counting) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	*c.seen = append(*c.seen, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

// TestWaitMakesABoundedNumberOfRequests waits 30 s for a job whose status changes every
// few seconds, counting every request the waiter makes. A 2-second polling loop would make
// 15 GETs of the job alone (and as many lists of its pods).
func TestWaitMakesABoundedNumberOfRequests(t *testing.T) {
	ns := namespace(t)
	results, err := applier().Apply(context.Background(), []*unstructured.Unstructured{tfJob(ns, "mnist", int64(2))})
	if err != nil {
		t.Fatal(err)
	}
	job := results[0].Object
	var mu sync.Mutex
	var seen []string
	cfg := rest.CopyConfig(shared.config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return counting{next: rt, mu: &mu, seen: &seen} }
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The operator's part runs off the test's goroutine: a failure cancels the wait, which
	// is bounded anyway, instead of calling t.Fatal there.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	operatorErr := make(chan error, 1)
	go func() {
		defer close(operatorErr)
		steps := [][]string{{"Created"}, {"Created", "Running"}, {"Created", "Running", "Restarting"}, {"Created", "Running"}, {"Created", "Running"}, {"Created", "Running", "Succeeded"}}
		for i, conds := range steps {
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Second):
			}
			active, succeeded, message := int64(i%3), int64(0), "step"
			if i == len(steps)-1 {
				active, succeeded, message = 0, 2, "done"
			}
			if _, err := writeStatus(tfJobs, job, conds, active, succeeded, message); err != nil {
				operatorErr <- err
				cancel()
				return
			}
		}
	}()
	began := time.Now()
	waiter := &run.Waiter{Client: dyn, Pods: cs.CoreV1()}
	final, err := waiter.Wait(ctx, run.Watch{
		Resource: tfJobs, Namespace: ns, Name: "mnist",
		PodSelector: workload.LabelJobName + "=mnist",
		Done:        func(obj *unstructured.Unstructured) (bool, error) { return workload.StateOf(obj).Finished(), nil },
		OnPod:       func(*corev1.Pod) error { return nil },
	})
	if opErr := <-operatorErr; opErr != nil {
		t.Fatalf("playing the operator: %v", opErr)
	}
	elapsed := time.Since(began)
	if err != nil || workload.StateOf(final).Phase != workload.Succeeded {
		t.Fatalf("wait: %v, state %v", err, final)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("waited %s with %d status changes: %d API requests:", elapsed.Round(time.Second), 6, len(seen))
	for _, r := range seen {
		t.Logf("  %s", r)
	}
	if elapsed < 29*time.Second {
		t.Errorf("waited only %s", elapsed)
	}
	if len(seen) > 8 {
		t.Errorf("%d requests in a 30 s wait, want at most 8 (a list and a watch each for the job and its pods, and a resumed watch or two)", len(seen))
	}
}
