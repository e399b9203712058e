package track

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var t0 = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func TestApplyAndLog(t *testing.T) {
	r := NewRecord("dev/mnist", "rev-0", t0)
	r.Apply(Action{Name: "train", Revision: "rev-1", Hyperparameters: map[string]any{"lr": 0.1}, ModelURI: "s3://m/1"}, t0.Add(time.Minute))
	if r.State != Trained || r.Revision != "rev-1" || r.Hyperparameters["lr"] != 0.1 {
		t.Fatalf("after a successful train: %+v", r)
	}
	r.Apply(Action{Name: "train", Revision: "rev-2", Err: errors.New("Worker 0 failed"), Hyperparameters: map[string]any{"lr": 9.0}}, t0.Add(2*time.Minute))
	if r.State != Trained || r.Revision != "rev-1" || r.Hyperparameters["lr"] != 0.1 {
		t.Errorf("a failure changed the current revision: %+v", r)
	}
	if last := r.History[len(r.History)-1]; last.Succeeded || last.Error != "Worker 0 failed" || last.Revision != "rev-2" {
		t.Errorf("failure entry = %+v", last)
	}
	if err := r.LogMetrics(Metrics{Type: "validation", Values: map[string]float64{"accuracy": 0.9}, Time: t0}); err != nil {
		t.Fatal(err)
	}
	r.LogData(DataSet{Name: "mnist", URI: "s3://d", Time: t0})
	cur := r.History[1]
	if cur.Revision != "rev-1" || len(cur.Metrics) != 1 || len(cur.DataSets) != 1 {
		t.Errorf("metrics and data go to the current revision's entry: %+v", r.History)
	}
	if err := r.LogMetrics(Metrics{Type: "accuracy"}); err == nil {
		t.Error("an unknown metrics type was accepted")
	}
	r.Apply(Action{Name: "deploy", Revision: "rev-3"}, t0)
	if r.State != Deployed || r.Hyperparameters["lr"] != 0.1 {
		t.Errorf("deploy keeps the hyperparameters: %+v", r)
	}
}

func TestEncodeTrimsOldestEntriesButKeepsTheCurrentOne(t *testing.T) {
	r := NewRecord("dev/mnist", "rev-0", t0)
	r.Apply(Action{Name: "train", Revision: "current"}, t0)
	for i := range 150 {
		r.Apply(Action{Name: "train", Revision: fmt.Sprintf("failed-%03d", i), Err: errors.New("x")}, t0)
	}
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.History) != MaxEntries || back.Trimmed != 52 {
		t.Errorf("%d entries, %d trimmed; want %d kept", len(back.History), back.Trimmed, MaxEntries)
	}
	if back.History[0].Revision != "current" || back.History[len(back.History)-1].Revision != "failed-149" {
		t.Errorf("kept %s .. %s, want the current revision and the newest entries", back.History[0].Revision, back.History[len(back.History)-1].Revision)
	}
}

func TestEncodeTrimsBySize(t *testing.T) {
	r := NewRecord("dev/mnist", "rev-0", t0)
	big := strings.Repeat("x", 50*1024)
	for i := range 40 {
		r.Apply(Action{Name: "train", Revision: fmt.Sprintf("rev-%02d", i+1)}, t0)
		r.LogData(DataSet{Name: "d", URI: "s3://d", Description: big, Time: t0})
	}
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > MaxRecordBytes {
		t.Fatalf("%d bytes, want at most %d", len(data), MaxRecordBytes)
	}
	back, _ := Decode(data)
	if last := back.History[len(back.History)-1]; last.Revision != "rev-40" || back.Revision != "rev-40" || back.Trimmed == 0 {
		t.Errorf("newest kept %s (current %s), trimmed %d", last.Revision, back.Revision, back.Trimmed)
	}
}

func TestEncodeFailsWhenTheCurrentEntryAloneIsTooBig(t *testing.T) {
	r := NewRecord("dev/mnist", "rev-0", t0)
	huge := strings.Repeat("x", 20*1024)
	for range MaxSetsPerEntry {
		r.LogData(DataSet{Name: "d", URI: "s3://d", Description: huge, Time: t0})
	}
	if _, err := r.Encode(); err == nil || !strings.Contains(err.Error(), "only its current revision left") {
		t.Errorf("error = %v", err)
	}
}

// TestHugeFailureKeepsTheHistory: a failure whose error carries the replicas' log tails (up to
// 64 KiB each) keeps its first line, capped, and no log line: the history stays whole.
func TestHugeFailureKeepsTheHistory(t *testing.T) {
	r := NewRecord("dev/mnist", "rev-0", t0)
	for i := range 40 {
		r.Apply(Action{Name: "train", Revision: fmt.Sprintf("rev-%d", i+1)}, t0)
	}
	tail := strings.Repeat("AWS_SECRET_ACCESS_KEY=leaked "+strings.Repeat("x", 1000)+"\n", 64*16)
	r.Apply(Action{Name: "train", Revision: "rev-fail", Err: errors.New("tfjob.kubeflow.org/j failed: " + strings.Repeat("é", 2000) + "\nlast lines of replica worker-0 (exit code 1):\n" + tail)}, t0)
	data, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if r.Trimmed != 0 || len(r.History) != 42 {
		t.Fatalf("history %d entries, %d trimmed; want all 42 kept", len(r.History), r.Trimmed)
	}
	last := r.History[len(r.History)-1]
	if !strings.HasPrefix(last.Error, "tfjob.kubeflow.org/j failed: ") || len(last.Error) > maxEntryError || !strings.HasSuffix(last.Error, "…") || !utf8.ValidString(last.Error) {
		t.Errorf("failure entry error (%d bytes): %.80q…", len(last.Error), last.Error)
	}
	if strings.Contains(string(data), "AWS_SECRET_ACCESS_KEY") || strings.Contains(string(data), "last lines") {
		t.Error("the replicas' log lines went into the record")
	}
}
