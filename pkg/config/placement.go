package config

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// ParseNodeSelector parses repeated key=value flag values into a nodeSelector: each key a
// label key (e.g. cloud.google.com/gke-accelerator), each value a label value. A key given
// twice is an error. flag names the flag in messages.
func ParseNodeSelector(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, sdkerr.New(sdkerr.Usage, "%s %q: expected key=value, e.g. kubernetes.io/arch=amd64", flag, kv)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, sdkerr.New(sdkerr.Usage, "%s %q: %q is not a label key: %s", flag, kv, k, errs[0])
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, sdkerr.New(sdkerr.Usage, "%s %q: %q is not a label value: %s", flag, kv, v, errs[0])
		}
		if _, dup := out[k]; dup {
			return nil, sdkerr.New(sdkerr.Usage, "%s: %s is given twice", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

// taintEffects are the effects a toleration may name.
var taintEffects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}

// ParseTolerations parses repeated KEY[=VALUE][:EFFECT] flag values, the form of kubectl
// taint: with a value the toleration matches a taint of that key and value (Equal), without one
// any taint of the key (Exists); without an effect, every effect.
func ParseTolerations(flag string, values []string) ([]corev1.Toleration, error) {
	var out []corev1.Toleration
	for _, s := range values {
		t := corev1.Toleration{Operator: corev1.TolerationOpExists}
		rest := s
		if i := strings.LastIndex(rest, ":"); i >= 0 {
			effect := corev1.TaintEffect(rest[i+1:])
			found := false
			for _, e := range taintEffects {
				found = found || e == effect
			}
			if !found {
				return nil, sdkerr.New(sdkerr.Usage, "%s %q: the effect %q is none of NoSchedule, PreferNoSchedule and NoExecute", flag, s, effect)
			}
			t.Effect, rest = effect, rest[:i]
		}
		key, value, hasValue := strings.Cut(rest, "=")
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return nil, sdkerr.New(sdkerr.Usage, "%s %q: expected KEY[=VALUE][:EFFECT], e.g. nvidia.com/gpu:NoSchedule; %q is not a taint key: %s", flag, s, key, errs[0])
		}
		t.Key = key
		if hasValue {
			if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
				return nil, sdkerr.New(sdkerr.Usage, "%s %q: %q is not a taint value: %s", flag, s, value, errs[0])
			}
			t.Operator, t.Value = corev1.TolerationOpEqual, value
		}
		out = append(out, t)
	}
	return out, nil
}
