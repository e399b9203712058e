package image

import (
	"slices"
	"testing"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 50_000_000: "47.7 MiB", 3 << 30: "3.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestChoose(t *testing.T) {
	plain, withReqs := &Inputs{}, &Inputs{Requirements: "requirements.txt"}
	for _, tc := range []struct {
		builder string
		in      *Inputs
		want    string
		fails   bool
	}{
		{BuilderAuto, plain, BuilderLocal, false},
		{BuilderAuto, withReqs, BuilderCluster, false},
		{BuilderLocal, plain, BuilderLocal, false},
		{BuilderLocal, withReqs, "", true},
		{BuilderCluster, plain, BuilderCluster, false},
		{"docker", plain, "", true},
	} {
		got, err := Choose(tc.builder, tc.in)
		if got != tc.want || (err != nil) != tc.fails {
			t.Errorf("Choose(%s, requirements %q) = %q, %v", tc.builder, tc.in.Requirements, got, err)
		}
	}
}

// An upload's progress is shown at each quarter once, however the reports fall.
func TestUploadProgressQuarters(t *testing.T) {
	var shown []int
	p := quarters(func(pct int, total int64) {
		if total != 400 {
			t.Errorf("total %d", total)
		}
		shown = append(shown, pct)
	})
	for _, sent := range []int64{10, 99, 100, 320, 330, 400, 400} {
		p(sent, 400)
	}
	if !slices.Equal(shown, []int{25, 50, 75, 100}) {
		t.Errorf("shown %v, want each quarter once", shown)
	}
}
