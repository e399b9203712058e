package image

import "testing"

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
