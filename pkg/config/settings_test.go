package config

import (
	"strings"
	"testing"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

func env(vars map[string]string) Env {
	return Env{Lookup: func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"true", "TRUE", "yes", "Y", "1", " on "} {
		if b, err := ParseBool(s); err != nil || !b {
			t.Errorf("ParseBool(%q) = %v, %v; want true", s, b, err)
		}
	}
	for _, s := range []string{"false", "No", "n", "0", "off"} {
		if b, err := ParseBool(s); err != nil || b {
			t.Errorf("ParseBool(%q) = %v, %v; want false", s, b, err)
		}
	}
	for _, s := range []string{"", "maybe", "2", "tru"} {
		if _, err := ParseBool(s); err == nil {
			t.Errorf("ParseBool(%q) accepted", s)
		}
	}
}

func TestPrecedence(t *testing.T) {
	flagTrue, fileDefault := true, false
	vars := map[string]string{EnvForceCleanup: "no", EnvTTLSecondsAfterFinished: "600"}
	e := env(vars)

	if b, _ := e.Bool(&flagTrue, EnvForceCleanup, fileDefault); !b {
		t.Error("a flag must win over the variable")
	}
	if b, _ := e.Bool(nil, EnvForceCleanup, true); b {
		t.Error("the variable must win over the file / default")
	}
	if b, _ := e.Bool(nil, EnvDeleteExperiment, true); !b {
		t.Error("the default applies when neither flag nor variable is set")
	}
	seven := 7
	if v, _ := e.Int(&seven, EnvTTLSecondsAfterFinished, nil); *v != 7 {
		t.Errorf("flag: got %d", *v)
	}
	if v, _ := e.Int(nil, EnvTTLSecondsAfterFinished, nil); v == nil || *v != 600 {
		t.Errorf("variable: got %v", v)
	}
	if v, _ := env(map[string]string{EnvTTLSecondsAfterFinished: "  "}).Int(nil, EnvTTLSecondsAfterFinished, nil); v != nil {
		t.Errorf("a blank variable counts as unset, got %d", *v)
	}
}

func TestMalformedValuesNameTheVariable(t *testing.T) {
	for name, run := range map[string]func(Env) error{
		EnvForceCleanup:            func(e Env) error { _, err := e.Bool(nil, EnvForceCleanup, false); return err },
		EnvTTLSecondsAfterFinished: func(e Env) error { _, err := e.Int(nil, EnvTTLSecondsAfterFinished, nil); return err },
		EnvBuilderCPULimit:         func(e Env) error { _, err := e.Quantity("", EnvBuilderCPULimit, ""); return err },
		EnvLogTimeFormat:           func(e Env) error { _, err := e.ResolveOutput(nil); return err },
	} {
		err := run(env(map[string]string{name: "%Q-minus-one"}))
		if err == nil {
			t.Errorf("%s: malformed value accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), name) || sdkerr.ClassOf(err) != sdkerr.Usage {
			t.Errorf("%s: error %q (%s) does not name the variable as a usage error", name, err, sdkerr.ClassOf(err))
		}
	}
	if _, err := env(nil).Quantity("lots", EnvBuilderMemLimit, ""); err == nil || !strings.Contains(err.Error(), "flag") {
		t.Errorf("a malformed flag value must name the flag: %v", err)
	}
}

func TestResolveOutput(t *testing.T) {
	o, err := env(map[string]string{EnvVerbose: "y", EnvDebug: "1", EnvLogTimeFormat: "%Y-%m-%d %H:%M:%S"}).ResolveOutput(nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 22, 9, 5, 7, 0, time.UTC)
	if !o.Verbose || !o.Debug || o.Timestamp == nil || o.Timestamp(ts) != "2026-11-22 09:05:07" {
		t.Errorf("got %+v", o)
	}
	// Literal words that are Go layout tokens are written as given.
	o, err = env(map[string]string{EnvLogTimeFormat: "Monday 2006 Jan %Y"}).ResolveOutput(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.Timestamp(ts); got != "Monday 2006 Jan 2026" {
		t.Errorf("timestamp %q, want \"Monday 2006 Jan 2026\"", got)
	}
	if o, _ := env(nil).ResolveOutput(nil); o.Timestamp != nil {
		t.Error("a timestamp without KAPTAIN_SDK_LOG_TIMEFORMAT")
	}
	quiet := false
	if o, _ := env(map[string]string{EnvVerbose: "y"}).ResolveOutput(&quiet); o.Verbose {
		t.Error("-v=false must win over KAPTAIN_SDK_VERBOSE")
	}
}

func TestTimeFormat(t *testing.T) {
	ts := time.Date(2026, 11, 22, 9, 5, 7, 123456789, time.FixedZone("CET", 3600))
	for _, tc := range []struct{ format, want string }{
		{"%Y-%m-%d %H:%M:%S", "2026-11-22 09:05:07"},
		{"%H:%M:%S.%f", "09:05:07.123456"},
		{"%S%f", "07123456"},
		{"[%d/%b/%Y] %%", "[22/Nov/2026] %"},
		{"%I %p %a %A %j %B %y", "09 AM Sun Sunday 326 November 26"},
		{"%z %Z", "+0100 CET"},
		{"Monday 2006 Jan %Y", "Monday 2006 Jan 2026"},
		{"v1 at %H:%M PM MST 15:04:05 _2 -0700 .000", "v1 at 09:05 PM MST 15:04:05 _2 -0700 .000"},
		{"%%Y 100%%", "%Y 100%"},
		{"no directives", "no directives"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			f, err := ParseTimeFormat(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Format(ts); got != tc.want {
				t.Errorf("formats as %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"%", "%Q", "%Y-%", "%E"} {
		if _, err := ParseTimeFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
