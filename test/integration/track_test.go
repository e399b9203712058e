//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/test/plugintest"
)

// record reads a model's record through 'kubectl kaptain model history -o json'.
func record(t *testing.T, example, ns string) *track.Record {
	t.Helper()
	r := kaptain(t, repoPath("examples", example), nil, "model", "history", "-n", ns, "-o", "json")
	if r.code != 0 {
		t.Fatalf("model history: exit %d, %s", r.code, r.stderr)
	}
	rec := &track.Record{}
	if err := json.Unmarshal([]byte(r.stdout), rec); err != nil {
		t.Fatalf("model history -o json: %v\n%s", err, r.stdout)
	}
	return rec
}

func TestTrainRecordsRevisionsAndFailures(t *testing.T) {
	ns := namespace(t)
	if r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "model", "history", "-n", ns); r.code != sdkerr.ModelValidation.ExitCode() || !strings.Contains(r.stderr, "not tracked yet") {
		t.Errorf("history of an untracked model: exit %d, %q", r.code, r.stderr)
	}
	run := func(final []string, wantCode int) string {
		r := start(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--timeout", "60s", "-p", "lr=0.5")
		var job map[string]any
		deadline := time.Now().Add(30 * time.Second)
		for job == nil && time.Now().Before(deadline) {
			list, err := shared.dynamic.Resource(tfJobs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range list.Items {
				if _, done := j.Object["status"]; !done {
					job = j.Object
					setStatus(t, tfJobs, &j, final, 0, 2, "the end")
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code := r.Exit(t, 30*time.Second); code != wantCode {
			t.Fatalf("exit %d, want %d: %s", code, wantCode, r.Stderr())
		}
		return job["metadata"].(map[string]any)["labels"].(map[string]any)["kaptain.dev/revision"].(string)
	}
	failed := run([]string{"Created", "Failed"}, 13)
	rec := record(t, "mnist-tensorflow", ns)
	if rec.State != track.Untrained || rec.Revision == failed || len(rec.History) != 2 || rec.History[1].Succeeded || rec.History[1].Revision != failed {
		t.Errorf("after a failed train: %+v", rec)
	}
	trained := run([]string{"Created", "Running", "Succeeded"}, 0)
	rec = record(t, "mnist-tensorflow", ns)
	last := rec.History[len(rec.History)-1]
	if rec.State != track.Trained || rec.Revision != trained || !last.Succeeded || last.Hyperparameters["lr"] != "0.5" ||
		last.ModelURI != "s3://kaptain/models/dev/mnist-tensorflow/trained/"+trained || !strings.HasPrefix(last.Workload, "tfjob.kubeflow.org/") {
		t.Errorf("after a successful train: %+v", rec)
	}
	r := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "model", "meta", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "State:            trained") || !strings.Contains(r.stdout, trained) {
		t.Errorf("model meta: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestConcurrentLogMetricsLoseNothing(t *testing.T) {
	ns := namespace(t)
	const writers = 20
	var wg sync.WaitGroup
	results := make([]plugintest.Result, writers)
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = shared.plugin().Exec(2*time.Minute, repoPath("examples", "mnist-pytorch"), nil, "model", "log-metrics", "-n", ns, "--type", "validation", fmt.Sprintf("writer=%d", i), "accuracy=0.9")
		}()
	}
	wg.Wait()
	for i, r := range results {
		if errs[i] != nil || r.Code != 0 {
			t.Errorf("writer %d: exit %d, %v: %s", i, r.Code, errs[i], r.Stderr)
		}
	}
	rec := record(t, "mnist-pytorch", ns)
	seen := map[float64]bool{}
	for _, e := range rec.History {
		for _, m := range e.Metrics {
			seen[m.Values["writer"]] = true
		}
	}
	if len(seen) != writers {
		t.Errorf("%d of %d metric sets kept: %v", len(seen), writers, seen)
	}
	for _, bad := range []struct {
		args []string
		code int
	}{
		{[]string{"--type", "accuracy", "a=1"}, 7},
		{[]string{"--type", "testing", "a=high"}, 2},
	} {
		if r := kaptain(t, repoPath("examples", "mnist-pytorch"), nil, append([]string{"model", "log-metrics", "-n", ns}, bad.args...)...); r.code != bad.code {
			t.Errorf("%v: exit %d, want %d: %s", bad.args, r.code, bad.code, r.stderr)
		}
	}
	if after := record(t, "mnist-pytorch", ns); len(after.History) != len(rec.History) {
		t.Error("a refused log-metrics changed the record")
	}
}

func TestRecordPastTheSizeBoundKeepsTheNewest(t *testing.T) {
	ns := namespace(t)
	store := &track.Store{ConfigMaps: shared.client.CoreV1(), Namespace: ns, NewRevision: func() string { return "rev-0" }, Now: time.Now}
	description := strings.Repeat("d", 4096)
	for i := range 60 {
		_, err := store.Update(context.Background(), "dev/big", "dev-big", func(r *track.Record) error {
			r.Apply(track.Action{Name: "train", Revision: fmt.Sprintf("rev-%02d", i+1)}, time.Now())
			for range 5 {
				r.LogData(track.DataSet{Name: "d", URI: "s3://d", Description: description, Time: time.Now()})
			}
			return nil
		})
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	cm, err := shared.client.CoreV1().ConfigMaps(ns).Get(context.Background(), track.Name("dev-big"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := track.Decode([]byte(cm.Data[track.DataKey]))
	if err != nil {
		t.Fatalf("the stored record is not valid: %v", err)
	}
	if size := len(cm.Data[track.DataKey]); size > track.MaxRecordBytes || rec.Trimmed == 0 {
		t.Errorf("record of %d bytes, %d trimmed", size, rec.Trimmed)
	}
	if last := rec.History[len(rec.History)-1]; last.Revision != "rev-60" || rec.Revision != "rev-60" {
		t.Errorf("newest entry %s, current %s; want rev-60", last.Revision, rec.Revision)
	}
}

// TestClusterTextReachesTheTerminalEscaped: a condition message with terminal escapes (which
// anyone who can write the job's status, or the record, controls) is shown, not obeyed, in
// train's progress and error, and in the record's history and meta (the audit's N7).
func TestClusterTextReachesTheTerminalEscaped(t *testing.T) {
	ns := namespace(t)
	const hostile = "\x1b]0;pwned\x07boom\x1b[2J\r"
	r := start(t, repoPath("examples", "mnist-tensorflow"), nil, "train", "-n", ns, "--timeout", "60s")
	deadline := time.Now().Add(30 * time.Second)
	job := ""
	for ; job == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		list, err := shared.dynamic.Resource(tfJobs).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range list.Items {
			setStatus(t, tfJobs, &j, []string{"Created", "Failed"}, 0, 2, hostile)
			job = j.GetName()
		}
	}
	if code := r.Exit(t, 30*time.Second); code != sdkerr.JobFailed.ExitCode() {
		t.Fatalf("exit %d, want 13: %q", code, r.Stderr())
	}
	if strings.ContainsAny(r.Stderr(), "\x1b\x07\r") || !strings.Contains(r.Stderr(), `^[]0;pwned\x07boom^[[2J\r`) {
		t.Errorf("train's stderr passes the escapes on, or hides them:\n%q", r.Stderr())
	}
	for _, cmd := range [][]string{{"model", "history"}, {"model", "history", "-o", "yaml"}, {"model", "meta"}, {"get", "jobs"}, {"describe", job, "--kind", "tfjob"}} {
		out := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, append(cmd, "-n", ns)...)
		if strings.ContainsAny(out.stdout+out.stderr, "\x1b\x07") {
			t.Errorf("%v prints the escapes: %q", cmd, out.stdout+out.stderr)
		}
	}
	if out := kaptain(t, repoPath("examples", "mnist-tensorflow"), nil, "model", "history", "-n", ns, "-o", "yaml"); !strings.Contains(out.stdout, "pwned") {
		t.Errorf("model history does not show the failure's message:\n%s", out.stdout)
	}
}
