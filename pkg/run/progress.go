package run

import (
	"fmt"
	"io"
	"time"
)

// Progress writes one line per event to the error stream, never to the output stream, so
// that -o yaml stays pipeable. A Stamp prefixes each line with the time it formats.
type Progress struct {
	W     io.Writer
	Stamp func(time.Time) string
	Now   func() time.Time
}

// Printf writes one progress line.
func (p Progress) Printf(format string, args ...any) {
	if p.W == nil {
		return
	}
	if p.Stamp != nil {
		now := time.Now
		if p.Now != nil {
			now = p.Now
		}
		fmt.Fprintf(p.W, "%s ", p.Stamp(now()))
	}
	fmt.Fprintf(p.W, format+"\n", args...)
}
