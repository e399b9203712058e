// Package config resolves the plugin's settings and credentials: the KAPTAIN_SDK_* environment
// variables, their precedence against flags and kaptain.yaml, and the time format of progress
// lines.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// The environment variables of the Kaptain SDK.
const (
	EnvVerbose                 = "KAPTAIN_SDK_VERBOSE"
	EnvDebug                   = "KAPTAIN_SDK_DEBUG"
	EnvLogTimeFormat           = "KAPTAIN_SDK_LOG_TIMEFORMAT"
	EnvBuilderCPULimit         = "KAPTAIN_SDK_DOCKER_BUILDER_CPU_LIMIT"
	EnvBuilderMemLimit         = "KAPTAIN_SDK_DOCKER_BUILDER_MEM_LIMIT"
	EnvBuilderCPURequest       = "KAPTAIN_SDK_DOCKER_BUILDER_CPU_REQUEST"
	EnvBuilderMemRequest       = "KAPTAIN_SDK_DOCKER_BUILDER_MEM_REQUEST"
	EnvDeleteExperiment        = "KAPTAIN_SDK_DELETE_EXPERIMENT"
	EnvTTLSecondsAfterFinished = "KAPTAIN_SDK_TTL_SECONDS_AFTER_FINISHED"
	EnvForceCleanup            = "KAPTAIN_SDK_FORCE_CLEANUP"
)

// LookupFunc reads an environment variable; os.LookupEnv in production.
type LookupFunc func(name string) (string, bool)

// Env reads KAPTAIN_SDK_* variables through a LookupFunc, so tests need not touch the process
// environment.
type Env struct {
	Lookup LookupFunc
}

// OSEnv reads the process environment.
func OSEnv() Env { return Env{Lookup: os.LookupEnv} }

func (e Env) get(name string) (string, bool) {
	if e.Lookup == nil {
		return "", false
	}
	v, ok := e.Lookup(name)
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// ParseBool reads a boolean as the SDK does: true / yes / y / 1 and false / no / n / 0, in
// any case.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "y", "1", "on":
		return true, nil
	case "false", "no", "n", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean: use true, yes, y, 1, false, no, n or 0", s)
}

// Bool resolves a boolean setting: the flag when it was set, else the variable, else def.
func (e Env) Bool(flag *bool, name string, def bool) (bool, error) {
	if flag != nil {
		return *flag, nil
	}
	if v, ok := e.get(name); ok {
		b, err := ParseBool(v)
		if err != nil {
			return false, sdkerr.Wrap(sdkerr.Usage, err, "environment variable %s", name)
		}
		return b, nil
	}
	return def, nil
}

// Int resolves a non-negative integer setting: the flag when set, else the variable, else def
// (nil for unset).
func (e Env) Int(flag *int, name string, def *int) (*int, error) {
	if flag != nil {
		return flag, nil
	}
	if v, ok := e.get(name); ok {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return nil, sdkerr.New(sdkerr.Usage, "environment variable %s: %q is not a whole number of seconds (0 or more)", name, v)
		}
		return &i, nil
	}
	return def, nil
}

// Quantity resolves a resource quantity setting such as "500m" or "2Gi".
func (e Env) Quantity(flag string, name string, def string) (string, error) {
	v, source := flag, "flag"
	if v == "" {
		if ev, ok := e.get(name); ok {
			v, source = ev, "environment variable "+name
		}
	}
	if v == "" {
		return def, nil
	}
	if _, err := resource.ParseQuantity(v); err != nil {
		return "", sdkerr.New(sdkerr.Usage, "%s: %q is not a resource quantity such as 500m, 2 or 4Gi", source, v)
	}
	return v, nil
}

// Output holds the settings that shape what the plugin prints.
type Output struct {
	// Verbose streams workload logs.
	Verbose bool
	// Debug adds the cause chain to errors.
	Debug bool
	// TimeLayout is the Go time layout prefixed to progress lines, or "" for none.
	TimeLayout string
}

// ResolveOutput reads KAPTAIN_SDK_VERBOSE, KAPTAIN_SDK_DEBUG and KAPTAIN_SDK_LOG_TIMEFORMAT;
// verbose is the -v flag when it was given.
func (e Env) ResolveOutput(verbose *bool) (Output, error) {
	var o Output
	var err error
	if o.Verbose, err = e.Bool(verbose, EnvVerbose, false); err != nil {
		return o, err
	}
	if o.Debug, err = e.Bool(nil, EnvDebug, false); err != nil {
		return o, err
	}
	if v, ok := e.get(EnvLogTimeFormat); ok {
		if o.TimeLayout, err = StrftimeLayout(v); err != nil {
			return o, sdkerr.Wrap(sdkerr.Usage, err, "environment variable %s", EnvLogTimeFormat)
		}
	}
	return o, nil
}

// StrftimeLayout converts a Python strftime format (as the SDK's KAPTAIN_SDK_LOG_TIMEFORMAT
// takes) to a Go time layout.
func StrftimeLayout(format string) (string, error) {
	directives := map[byte]string{
		'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'H': "15", 'I': "03", 'M': "04",
		'S': "05", 'f': "000000", 'p': "PM", 'z': "-0700", 'Z': "MST", 'b': "Jan",
		'B': "January", 'a': "Mon", 'A': "Monday", 'j': "002", '%': "%",
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(format) {
			return "", fmt.Errorf("%q ends with a lone %%", format)
		}
		i++
		layout, ok := directives[format[i]]
		if !ok {
			return "", fmt.Errorf("%q: directive %%%c is not supported; use %%Y %%m %%d %%H %%M %%S %%f %%z and the like", format, format[i])
		}
		b.WriteString(layout)
	}
	return b.String(), nil
}
