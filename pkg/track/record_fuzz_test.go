package track

import (
	"testing"
)

// FuzzDecodeRecord: any ConfigMap data either fails to decode or decodes to a record that
// encodes and decodes again to as many entries.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{`{}`, `{"history":[]}`, `{"history":[{"action":"train","revision":"r1","succeeded":true,"modelURI":"s3://b/m"}]}`, `{"history":null}`, `[]`, `{"history":[{"hyperparameters":{"lr":"0.1"}}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			return
		}
		out, err := r.Encode()
		if err != nil {
			return // too large to keep, or not encodable: an error, not a panic
		}
		again, err := Decode(out)
		if err != nil || len(again.History) != len(r.History) {
			t.Fatalf("re-decoding %q: %v, %d entries, want %d", out, err, len(again.History), len(r.History))
		}
		_ = r.LatestModelURI()
	})
}
