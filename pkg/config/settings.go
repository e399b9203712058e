// Package config resolves the plugin's settings: the KAPTAIN_SDK_* environment variables,
// their precedence against flags and kaptain.yaml, the output and time format of progress
// lines, and k=v flags.
package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

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
	// Timestamp formats the time prefixed to progress lines, or is nil for none.
	Timestamp func(time.Time) string
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
		f, err := ParseTimeFormat(v)
		if err != nil {
			return o, sdkerr.Wrap(sdkerr.Usage, err, "environment variable %s", EnvLogTimeFormat)
		}
		o.Timestamp = f.Format
	}
	return o, nil
}

// strftimeLayout is the Go layout token that formats the field of a strftime directive
// alone, false for a directive that is not supported.
func strftimeLayout(directive byte) (string, bool) {
	switch directive {
	case 'Y':
		return "2006", true
	case 'y':
		return "06", true
	case 'm':
		return "01", true
	case 'd':
		return "02", true
	case 'H':
		return "15", true
	case 'I':
		return "03", true
	case 'M':
		return "04", true
	case 'S':
		return "05", true
	case 'f':
		// Go writes microseconds only after a '.' or ','.
		return "000000", true
	case 'p':
		return "PM", true
	case 'z':
		return "-0700", true
	case 'Z':
		return "MST", true
	case 'b':
		return "Jan", true
	case 'B':
		return "January", true
	case 'a':
		return "Mon", true
	case 'A':
		return "Monday", true
	case 'j':
		return "002", true
	case '%':
		return "%", true
	}
	return "", false
}

// TimeFormat is a checked Python strftime format, as the SDK's KAPTAIN_SDK_LOG_TIMEFORMAT
// takes.
type TimeFormat struct {
	// parts are literal text and directives ("%Y"), in order.
	parts []string
}

// ParseTimeFormat checks a strftime format: each '%' starts one of the directives %Y %y %m
// %d %H %I %M %S %f %p %z %Z %b %B %a %A %j or %%; everything else is literal text.
func ParseTimeFormat(format string) (TimeFormat, error) {
	var f TimeFormat
	lit := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		if i+1 == len(format) {
			return TimeFormat{}, fmt.Errorf("%q ends with a lone %%; write %%%% for a literal %%", format)
		}
		if _, ok := strftimeLayout(format[i+1]); !ok {
			return TimeFormat{}, fmt.Errorf("%q: directive %%%c is not supported; use %%Y %%m %%d %%H %%M %%S %%f %%z and the like", format, format[i+1])
		}
		if lit < i {
			f.parts = append(f.parts, format[lit:i])
		}
		f.parts = append(f.parts, format[i:i+2])
		i++
		lit = i + 1
	}
	if lit < len(format) {
		f.parts = append(f.parts, format[lit:])
	}
	return f, nil
}

// Format writes t in the format: literal text unchanged, each directive formatted on its own.
func (f TimeFormat) Format(t time.Time) string {
	var b strings.Builder
	for _, p := range f.parts {
		if len(p) != 2 || p[0] != '%' {
			b.WriteString(p)
			continue
		}
		switch p[1] {
		case '%':
			b.WriteByte('%')
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/int(time.Microsecond))
		default:
			layout, _ := strftimeLayout(p[1])
			b.WriteString(t.Format(layout))
		}
	}
	return b.String()
}
