package config

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

func TestParseNodeSelector(t *testing.T) {
	got, err := ParseNodeSelector("--node-selector", []string{"kaptain.dev/node=real", "kubernetes.io/arch=amd64", "pool="})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"kaptain.dev/node": "real", "kubernetes.io/arch": "amd64", "pool": ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := ParseNodeSelector("--node-selector", nil); got != nil || err != nil {
		t.Errorf("no flags: %v, %v; want no selector", got, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"pool", "expected key=value"},
		{"=real", `"" is not a label key`},
		{"a/b/c=d", `"a/b/c" is not a label key`},
		{"pool=two words", `"two words" is not a label value`},
		{"pool=" + strings.Repeat("x", 64), "is not a label value"},
	} {
		_, err := ParseNodeSelector("--node-selector", []string{tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--node-selector") || sdkerr.ClassOf(err) != sdkerr.Usage {
			t.Errorf("%q: error %v, want a usage error naming --node-selector and saying %q", tc.in, err, tc.want)
		}
	}
	if _, err := ParseNodeSelector("--node-selector", []string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "a is given twice") {
		t.Errorf("duplicate: %v", err)
	}
}

func TestParseTolerations(t *testing.T) {
	got, err := ParseTolerations("--toleration", []string{"nvidia.com/gpu:NoSchedule", "dedicated=ml:NoExecute", "spot", "zone=a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Toleration{
		{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ml", Effect: corev1.TaintEffectNoExecute},
		{Key: "spot", Operator: corev1.TolerationOpExists},
		{Key: "zone", Operator: corev1.TolerationOpEqual, Value: "a"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, tc := range []struct{ in, want string }{
		{"gpu:Never", `the effect "Never" is none of`},
		{":NoSchedule", `"" is not a taint key`},
		{"a b", `"a b" is not a taint key`},
		{"k=v w", `"v w" is not a taint value`},
		{"k:", `the effect "" is none of`},
	} {
		_, err := ParseTolerations("--toleration", []string{tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--toleration") || sdkerr.ClassOf(err) != sdkerr.Usage {
			t.Errorf("%q: error %v, want a usage error naming --toleration and saying %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseTolerations(f *testing.F) {
	for _, s := range []string{"nvidia.com/gpu:NoSchedule", "k=v:NoExecute", "spot", "a=b", ":", "=", "a:b:NoSchedule", "k=v=w", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTolerations("--toleration", []string{s})
		if err != nil {
			if sdkerr.ClassOf(err) != sdkerr.Usage || !strings.HasPrefix(err.Error(), "--toleration") {
				t.Fatalf("error %q is not a usage error naming the flag", err)
			}
			return
		}
		// What was accepted is a toleration the API server takes: a qualified key, a label
		// value with Equal and none with Exists, a known effect or none.
		tol := got[0]
		if len(validation.IsQualifiedName(tol.Key)) > 0 || len(validation.IsValidLabelValue(tol.Value)) > 0 {
			t.Fatalf("%q accepted as %+v", s, tol)
		}
		if (tol.Operator == corev1.TolerationOpExists) != (tol.Value == "") && tol.Operator != corev1.TolerationOpEqual {
			t.Fatalf("%q accepted as %+v", s, tol)
		}
		switch tol.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			t.Fatalf("%q accepted with effect %q", s, tol.Effect)
		}
	})
}

func FuzzParseNodeSelector(f *testing.F) {
	for _, s := range []string{"kaptain.dev/node=real", "a=", "=b", "a/b/c=d", "k=v=w", "x", "é=1", "k=a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseNodeSelector("--node-selector", []string{s})
		if err != nil {
			if sdkerr.ClassOf(err) != sdkerr.Usage || !strings.HasPrefix(err.Error(), "--node-selector") {
				t.Fatalf("error %q is not a usage error naming the flag", err)
			}
			return
		}
		// What was accepted is the input's key and value, a label key and a label value.
		k, v, _ := strings.Cut(s, "=")
		if got[k] != v || len(got) != 1 || len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			t.Fatalf("%q parsed to %v", s, got)
		}
	})
}
