// Package track keeps a model's record in the cluster: its state, current revision and a
// bounded history of revisions with their hyperparameters, images, model URIs, metrics and
// data sets. The record is one ConfigMap per model, so it needs nothing installed beyond
// Kubernetes; writes use optimistic concurrency and retry on conflict.
package track

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// State is the model's lifecycle state, as the SDK names it.
type State string

// The states.
const (
	Untrained State = "untrained"
	Trained   State = "trained"
	Tuned     State = "tuned"
	Deployed  State = "deployed"
)

// Bounds that keep a record well below the 1 MiB limit of a ConfigMap.
const (
	// MaxEntries is how many revisions the history keeps; older ones are trimmed first.
	MaxEntries = 100
	// MaxSetsPerEntry is how many metric sets and data sets each revision keeps.
	MaxSetsPerEntry = 100
	// MaxRecordBytes is the encoded size above which the oldest entries are trimmed.
	MaxRecordBytes = 900 * 1024
)

// MetricsTypes are the metrics types the SDK accepts.
var MetricsTypes = []string{"training", "testing", "validation", "production"}

// Record is a model's tracked state.
type Record struct {
	ModelID  string    `json:"modelId"`
	State    State     `json:"state"`
	Revision string    `json:"revision"`
	Updated  time.Time `json:"updated"`
	// Hyperparameters of the current revision.
	Hyperparameters map[string]any `json:"hyperparameters,omitempty"`
	// History holds the revisions, oldest first.
	History []Entry `json:"history"`
	// Trimmed counts the entries dropped to keep the record small.
	Trimmed int `json:"trimmed,omitempty"`
}

// Entry is one action on the model: a new revision when it succeeded, a failure otherwise.
type Entry struct {
	Revision        string         `json:"revision"`
	Action          string         `json:"action"`
	Time            time.Time      `json:"time"`
	Succeeded       bool           `json:"succeeded"`
	Error           string         `json:"error,omitempty"`
	Hyperparameters map[string]any `json:"hyperparameters,omitempty"`
	Image           string         `json:"image,omitempty"`
	ModelURI        string         `json:"modelUri,omitempty"`
	Workload        string         `json:"workload,omitempty"`
	// Results are the metrics the action's workload reported: a tune's best trial's.
	Results  map[string]string `json:"results,omitempty"`
	Metrics  []Metrics         `json:"metrics,omitempty"`
	DataSets []DataSet         `json:"dataSets,omitempty"`
}

// Metrics is one log_metrics call.
type Metrics struct {
	Type   string             `json:"type"`
	Values map[string]float64 `json:"values"`
	URI    string             `json:"uri,omitempty"`
	Time   time.Time          `json:"time"`
}

// DataSet is one log_data call.
type DataSet struct {
	Name        string    `json:"name"`
	URI         string    `json:"uri"`
	Description string    `json:"description,omitempty"`
	Features    []string  `json:"features,omitempty"`
	Version     string    `json:"version,omitempty"`
	Time        time.Time `json:"time"`
}

// Action is what an action reports to the record.
type Action struct {
	Name            string // train, tune, deploy
	Revision        string
	Err             error // nil when it succeeded
	Hyperparameters map[string]any
	Image           string
	ModelURI        string
	Workload        string
	// Results are the metrics the workload reported (a tune's best trial's).
	Results map[string]string
}

// NewRecord is the record of a model seen for the first time: untrained, with a revision.
func NewRecord(modelID, revision string, now time.Time) *Record {
	return &Record{
		ModelID: modelID, State: Untrained, Revision: revision, Updated: now,
		History: []Entry{{Revision: revision, Action: "create", Time: now, Succeeded: true}},
	}
}

var stateAfter = map[string]State{"train": Trained, "tune": Tuned, "deploy": Deployed}

// Apply records an action: a success makes its revision current and sets the state and
// hyperparameters; a failure is recorded without changing them.
func (r *Record) Apply(a Action, now time.Time) {
	e := Entry{
		Revision: a.Revision, Action: a.Name, Time: now, Succeeded: a.Err == nil,
		Hyperparameters: a.Hyperparameters, Image: a.Image, ModelURI: a.ModelURI, Workload: a.Workload,
		Results: a.Results,
	}
	if a.Err != nil {
		e.Error = errorSummary(a.Err)
	} else {
		r.Revision = a.Revision
		if s, ok := stateAfter[a.Name]; ok {
			r.State = s
		}
		if a.Hyperparameters != nil {
			r.Hyperparameters = a.Hyperparameters
		}
	}
	r.History = append(r.History, e)
	r.Updated = now
}

// maxEntryError bounds the error an entry keeps.
const maxEntryError = 2048

// errorSummary is what a history entry keeps of a failure: its first line (the condition's
// message), at most maxEntryError bytes. The replicas' log tails that follow it stay out of the
// record: they could hold secrets a script printed, readable by whoever reads ConfigMaps, and
// one large failure would otherwise push the whole history out of the record's size limit.
func errorSummary(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > maxEntryError {
		cut := maxEntryError - len("…")
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// current returns the entry of the current revision (the newest successful one with it).
func (r *Record) current() *Entry {
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Revision == r.Revision && r.History[i].Succeeded {
			return &r.History[i]
		}
	}
	r.History = append(r.History, Entry{Revision: r.Revision, Action: "log", Time: r.Updated, Succeeded: true})
	return &r.History[len(r.History)-1]
}

// LogMetrics adds metrics to the current revision.
func (r *Record) LogMetrics(m Metrics) error {
	if !slices.Contains(MetricsTypes, m.Type) {
		return fmt.Errorf("metrics type %q is not supported; use one of %v", m.Type, MetricsTypes)
	}
	e := r.current()
	e.Metrics = append(e.Metrics, m)
	if n := len(e.Metrics) - MaxSetsPerEntry; n > 0 {
		e.Metrics = slices.Delete(e.Metrics, 0, n)
	}
	r.Updated = m.Time
	return nil
}

// LogData adds a data set to the current revision.
func (r *Record) LogData(d DataSet) {
	e := r.current()
	e.DataSets = append(e.DataSets, d)
	if n := len(e.DataSets) - MaxSetsPerEntry; n > 0 {
		e.DataSets = slices.Delete(e.DataSets, 0, n)
	}
	r.Updated = d.Time
}

// Encode returns the record as JSON after trimming the oldest entries (never the current
// revision's) until it has at most MaxEntries and fits in MaxRecordBytes.
func (r *Record) Encode() ([]byte, error) {
	for {
		if len(r.History) > MaxEntries {
			r.trimOldest()
			continue
		}
		data, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encoding the record of %s: %w", r.ModelID, err)
		}
		if len(data) <= MaxRecordBytes {
			return data, nil
		}
		if !r.trimOldest() {
			return nil, fmt.Errorf("the record of %s is %d bytes with only its current revision left; the limit is %d", r.ModelID, len(data), MaxRecordBytes)
		}
	}
}

// trimOldest drops the oldest entry that is not the current revision's; false if none.
func (r *Record) trimOldest() bool {
	keep := -1
	for i := len(r.History) - 1; i >= 0; i-- {
		if r.History[i].Revision == r.Revision && r.History[i].Succeeded {
			keep = i
			break
		}
	}
	for i := range r.History {
		if i != keep {
			r.History = slices.Delete(r.History, i, i+1)
			r.Trimmed++
			return true
		}
	}
	return false
}

// Decode reads a record.
func Decode(data []byte) (*Record, error) {
	r := &Record{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("decoding a model record: %w", err)
	}
	return r, nil
}

// LatestModelURI is the model URI of the newest successful entry of one of the given actions
// (of any action when none are given), or "" when there is none. A nil record has none.
func (r *Record) LatestModelURI(actions ...string) string {
	if r == nil {
		return ""
	}
	for _, e := range slices.Backward(r.History) {
		if e.Succeeded && e.ModelURI != "" && (len(actions) == 0 || slices.Contains(actions, e.Action)) {
			return e.ModelURI
		}
	}
	return ""
}
