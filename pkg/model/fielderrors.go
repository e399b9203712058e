package model

import (
	"fmt"
	"strings"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// How a validation error names the field it is about: its path in kaptain.yaml, and the file
// and line it was read from.

func (m *Model) required(path, value string) error {
	if _, present := m.lines[path]; !present {
		return m.undefined(path, "required; add it to %s", m.fileName())
	}
	if strings.TrimSpace(value) == "" {
		return m.invalid(path, "is blank; give it a value")
	}
	return nil
}

func (m *Model) undefined(path, format string, args ...any) error {
	return sdkerr.New(sdkerr.UndefinedModelProperty, "%s: %s: %s", m.location(parentPath(path)), path, fmt.Sprintf(format, args...))
}

func (m *Model) invalid(path, format string, args ...any) error {
	return sdkerr.New(sdkerr.InvalidModelProperty, "%s: %s: %s", m.location(path), path, fmt.Sprintf(format, args...))
}

// location is "file:line" for a field, falling back to its nearest present parent.
func (m *Model) location(path string) string {
	for p := path; p != ""; p = parentPath(p) {
		if line := m.lines[p]; line > 0 {
			return fmt.Sprintf("%s:%d", m.fileName(), line)
		}
	}
	return m.fileName()
}

func (m *Model) fileName() string {
	if m.Path == "" {
		return "kaptain.yaml"
	}
	return m.Path
}

func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}
