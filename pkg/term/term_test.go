package term

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWriterShowsControlCharacters(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Running (2/2 replicas active)\n", "Running (2/2 replicas active)\n"},
		{"a\tb\n", "a\tb\n"},
		{"\x1b]0;pwned\x07title", `^[]0;pwned\x07title`},
		{"\x1b[2Jcleared", "^[[2Jcleared"},
		{"progress\roverwritten", `progress\roverwritten`},
		{"back\bspace\x7f", `back\x08space\x7f`},
		{"C1 CSI \u009b31m", `C1 CSI \u009b31m`},
		{"naïve café ✓ 日本", "naïve café ✓ 日本"},
		{"invalid \xff\xfe bytes", "invalid \xff\xfe bytes"},
		{"", ""},
	} {
		var buf bytes.Buffer
		n, err := NewWriter(&buf).Write([]byte(tc.in))
		if err != nil || n != len(tc.in) {
			t.Errorf("Write(%q) = %d, %v", tc.in, n, err)
		}
		if buf.String() != tc.want || Escape(tc.in) != tc.want {
			t.Errorf("Write(%q) wrote %q (Escape %q), want %q", tc.in, buf.String(), Escape(tc.in), tc.want)
		}
	}
}

func TestNewWriterWrapsOnce(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if NewWriter(w) != w || Raw(w) != &buf || Raw(&buf) != &buf {
		t.Fatal("NewWriter wrapped an escaping writer again, or Raw lost the writer under it")
	}
	if IsTerminal(w) {
		t.Error("a buffer is not a terminal")
	}
}

// FuzzWriter: whatever is written, the output holds no control character but newline and
// tab, no C1 control, and says everything it was given: the printable text is kept in order.
func FuzzWriter(f *testing.F) {
	for _, s := range []string{"plain\n", "\x1b]0;x\x07", "\r\n", "\u009b", "\xc2", "a\x00b", "日本\x1b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		if n, err := NewWriter(&buf).Write([]byte(s)); err != nil || n != len(s) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		out := buf.Bytes()
		for i, b := range out {
			if b < 0x20 && b != '\n' && b != '\t' || b == 0x7f {
				t.Fatalf("%q: control byte %#x at %d in %q", s, b, i, out)
			}
		}
		for rest := out; len(rest) > 0; {
			r, n := utf8.DecodeRune(rest)
			if r >= 0x80 && r <= 0x9f {
				t.Fatalf("%q: C1 control %U in %q", s, r, out)
			}
			rest = rest[n:]
		}
		var printable strings.Builder
		for _, r := range s {
			if r >= 0x20 && r != 0x7f && (r < 0x80 || r > 0x9f) && r != utf8.RuneError {
				printable.WriteRune(r)
			}
		}
		if p := printable.String(); !subsequence(p, keepPrintable(buf.String())) {
			t.Fatalf("%q: the printable text %q is not in %q in order", s, p, buf.String())
		}
	})
}

// keepPrintable drops what escape added around the text: nothing, as escapes are printable;
// it drops control characters kept as is (newline, tab) and invalid bytes.
func keepPrintable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 0x20 && r != 0x7f && r != utf8.RuneError {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// subsequence reports whether the runes of a appear in b in order.
func subsequence(a, b string) bool {
	rb := []rune(b)
	i := 0
	for _, r := range a {
		for i < len(rb) && rb[i] != r {
			i++
		}
		if i == len(rb) {
			return false
		}
		i++
	}
	return true
}
