package local

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// metricFilter is the line filter of Katib's metrics collectors (DefaultFilter of Katib
// v0.19's metricscollector common package): NAME=VALUE, spaces allowed around '='.
var metricFilter = regexp.MustCompile(`([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)`)

// Observation is what a trial reported of one metric: its values' least, greatest and last.
type Observation struct {
	Min, Max, Latest float64
	// Reports counts the values read.
	Reports int
}

// Metrics reads the named metrics from a trainer's output lines as Katib's StdOut collector
// does: a line that contains a metric's name is matched against the filter, and every
// NAME=VALUE in it whose NAME is one of the metrics (exactly) is a report. A value that is not
// a finite number (the filter also matches "name=" with nothing after it) is not a report.
// It is safe for use by one writer and concurrent readers.
type Metrics struct {
	names []string
	mu    sync.Mutex
	seen  map[string]*Observation
}

// NewMetrics reads the given metrics.
func NewMetrics(names ...string) *Metrics {
	return &Metrics{names: names, seen: map[string]*Observation{}}
}

// Read reads one line of output.
func (m *Metrics) Read(line string) {
	if !m.mentions(line) {
		return
	}
	for _, kv := range metricFilter.FindAllStringSubmatch(line, -1) {
		name, value := strings.TrimSpace(kv[1]), strings.TrimSpace(kv[2])
		if !m.named(name) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			continue
		}
		m.mu.Lock()
		o := m.seen[name]
		if o == nil {
			o = &Observation{Min: v, Max: v}
			m.seen[name] = o
		}
		o.Min, o.Max, o.Latest = min(o.Min, v), max(o.Max, v), v
		o.Reports++
		m.mu.Unlock()
	}
}

func (m *Metrics) mentions(line string) bool {
	for _, n := range m.names {
		if strings.Contains(line, n) {
			return true
		}
	}
	return false
}

func (m *Metrics) named(name string) bool {
	for _, n := range m.names {
		if n == name {
			return true
		}
	}
	return false
}

// Observed returns the metric's observation, false when it was never reported.
func (m *Metrics) Observed(name string) (Observation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.seen[name]
	if !ok {
		return Observation{}, false
	}
	return *o, true
}

// Value is the observation's value for an objective of the given type, as Katib's default
// metric strategies pick it: the greatest for maximize, the least for minimize.
func (o Observation) Value(objectiveType string) float64 {
	if objectiveType == "minimize" {
		return o.Min
	}
	return o.Max
}
