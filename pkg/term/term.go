// Package term keeps text that kaptain did not write (from the cluster, a registry, a record
// others can edit) from driving the user's terminal: a writer that shows control characters
// instead of passing them on, as kubectl's printers.EscapeTerminal does for ESC and CR.
package term

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	xterm "golang.org/x/term"
)

// Writer escapes every control character but newline and tab in what it writes: ESC is
// shown as ^[, CR as \r, the others as \xNN, and the C1 controls (U+0080 to U+009F) as \uNNNN.
// What kaptain draws itself (a progress bar redrawn in place) goes to Raw.
type Writer struct {
	w io.Writer
}

// NewWriter returns an escaping writer on w; w itself when it is one already.
func NewWriter(w io.Writer) io.Writer {
	if _, ok := w.(*Writer); ok || w == nil {
		return w
	}
	return &Writer{w: w}
}

// Write escapes p and writes it; it reports len(p) written when the escaped text was.
func (e *Writer) Write(p []byte) (int, error) {
	if clean(p) {
		return e.w.Write(p)
	}
	if _, err := io.WriteString(e.w, escape(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Raw is the writer under w when w escapes, else w: for what kaptain writes itself and
// must reach the terminal as written.
func Raw(w io.Writer) io.Writer {
	if e, ok := w.(*Writer); ok {
		return e.w
	}
	return w
}

// IsTerminal reports whether w, or the writer under it, is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := Raw(w).(*os.File)
	return ok && xterm.IsTerminal(int(f.Fd()))
}

// Escape returns s with its control characters shown, as Writer writes them.
func Escape(s string) string {
	if clean([]byte(s)) {
		return s
	}
	return escape([]byte(s))
}

// clean reports whether p holds nothing to escape.
func clean(p []byte) bool {
	for i, b := range p {
		if b < 0x20 && b != '\n' && b != '\t' || b == 0x7f || b == 0xc2 && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] <= 0x9f {
			return false
		}
	}
	return true
}

func escape(p []byte) string {
	var sb strings.Builder
	sb.Grow(len(p) + 16)
	for len(p) > 0 {
		r, n := utf8.DecodeRune(p)
		switch {
		case r == utf8.RuneError && n == 1:
			sb.WriteByte(p[0])
		case r == 0x1b:
			sb.WriteString("^[")
		case r == '\r':
			sb.WriteString(`\r`)
		case r == '\n' || r == '\t':
			sb.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case r >= 0x80 && r <= 0x9f:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.Write(p[:n])
		}
		p = p[n:]
	}
	return sb.String()
}
