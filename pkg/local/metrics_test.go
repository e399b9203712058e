package local

import (
	"testing"
)

func TestMetrics(t *testing.T) {
	m := NewMetrics("accuracy", "loss")
	for _, line := range []string{
		"epoch=1 loss=0.5 accuracy=0.7",
		"starting epoch 2",
		"2026-12-03T10:00:00Z accuracy = 0.9 loss=0.25",
		"val_accuracy=0.99 train-loss=0.01", // other names that contain the metrics'
		"accuracy=",                         // the filter matches an empty value: no report
		"accuracy=0.8e0",
		"loss: 0.1",
	} {
		m.Read(line)
	}
	acc, ok := m.Observed("accuracy")
	if !ok || acc != (Observation{Min: 0.7, Max: 0.9, Latest: 0.8, Reports: 3}) {
		t.Errorf("accuracy = %+v, %v; want min 0.7, max 0.9, latest 0.8 of 3 reports", acc, ok)
	}
	loss, ok := m.Observed("loss")
	if !ok || loss != (Observation{Min: 0.25, Max: 0.5, Latest: 0.25, Reports: 2}) {
		t.Errorf("loss = %+v, %v; want min 0.25, max 0.5, latest 0.25 of 2 reports", loss, ok)
	}
	if acc.Value("maximize") != 0.9 || loss.Value("minimize") != 0.25 {
		t.Errorf("Value: maximize %v, minimize %v; want the greatest and the least", acc.Value("maximize"), loss.Value("minimize"))
	}
	if _, ok := NewMetrics("f1").Observed("f1"); ok {
		t.Error("a metric never printed is observed")
	}
}

// FuzzMetrics reads arbitrary lines: no panic, and every report is a finite number among
// the values the line holds.
func FuzzMetrics(f *testing.F) {
	for _, s := range []string{"accuracy=0.9", "a=1 accuracy = -2e-3", "accuracy=.5e", "accuracy=+", "accuracy==1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m := NewMetrics("accuracy")
		m.Read(line)
		if o, ok := m.Observed("accuracy"); ok && (o.Reports < 1 || o.Min > o.Max || o.Latest < o.Min || o.Latest > o.Max) {
			t.Errorf("%q: observation %+v", line, o)
		}
	})
}
