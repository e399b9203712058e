package plugin

import (
	"fmt"
	"io"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
)

// progress writes one line per event to the error stream, never to the output stream, so
// that -o yaml stays pipeable. KAPTAIN_SDK_LOG_TIMEFORMAT adds a timestamp.
type progress struct {
	w      io.Writer
	layout string
	now    func() time.Time
}

func newProgress(w io.Writer, o config.Output) progress {
	return progress{w: w, layout: o.TimeLayout, now: time.Now}
}

// Printf writes one progress line.
func (p progress) Printf(format string, args ...any) {
	if p.layout != "" {
		fmt.Fprintf(p.w, "%s ", p.now().Format(p.layout))
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
