package config

import (
	"strings"
	"testing"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

func TestParseKeyValues(t *testing.T) {
	got, err := ParseKeyValues("-p", []string{"lr=0.01", "data_dir=/data/x=y", "empty=", "batch-size=64", "model.depth=3"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"lr": "0.01", "data_dir": "/data/x=y", "empty": "", "batch-size": "64", "model.depth": "3"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"lr", "expected name=value"},
		{"=1", `"" is not a valid name`},
		{"1lr=3", `"1lr" is not a valid name`},
		{"l r=3", `"l r" is not a valid name`},
		{"lr=a\nb", "control character"},
	} {
		_, err := ParseKeyValues("-p", []string{tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "-p") {
			t.Errorf("%q: error %v, want one naming -p and saying %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseKeyValues("--arg", []string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "a is given twice") {
		t.Errorf("duplicate: %v", err)
	}
}

func FuzzParseKeyValues(f *testing.F) {
	for _, s := range []string{"lr=0.01", "a=b=c", "=", "x", "data_dir=/d", "é=1", "a=\x00", "a.b-c_d=", "a=1,b=2"} {
		f.Add(s, "b=2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := ParseKeyValues("-p", []string{a, b})
		if err != nil {
			if sdkerr.ClassOf(err) != sdkerr.Usage || !strings.HasPrefix(err.Error(), "-p") {
				t.Fatalf("error %q is not a usage error naming the flag", err)
			}
			return
		}
		// What was accepted round-trips: every input is name=value with that exact value.
		for _, in := range []string{a, b} {
			k, v, _ := strings.Cut(in, "=")
			if got[k] != v {
				t.Fatalf("%q parsed to %q=%q", in, k, got[k])
			}
			if !keyName.MatchString(k) {
				t.Fatalf("accepted name %q", k)
			}
		}
	})
}
