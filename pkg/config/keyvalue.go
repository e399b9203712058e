package config

import (
	"regexp"
	"strings"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

var keyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// ParseKeyValues parses repeated name=value flag values. Names start with a letter or '_' and
// hold letters, digits, '_', '-' and '.'; a value may be empty and may contain '='. A name
// given twice is an error. flag names the flag in messages, e.g. "--hyperparameter".
func ParseKeyValues(flag string, values []string) (map[string]string, error) {
	out := make(map[string]string, len(values))
	for _, kv := range values {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, sdkerr.New(sdkerr.Usage, "%s %q: expected name=value", flag, kv)
		}
		if !keyName.MatchString(k) {
			return nil, sdkerr.New(sdkerr.Usage, "%s %q: %q is not a valid name; use letters, digits, '_', '-' and '.', starting with a letter", flag, kv, k)
		}
		if strings.ContainsAny(v, "\x00\n\r") {
			return nil, sdkerr.New(sdkerr.Usage, "%s %q: the value holds a control character", flag, kv)
		}
		if _, dup := out[k]; dup {
			return nil, sdkerr.New(sdkerr.Usage, "%s: %s is given twice", flag, k)
		}
		out[k] = v
	}
	return out, nil
}
