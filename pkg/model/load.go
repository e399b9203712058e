package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// maxFileSize bounds kaptain.yaml; a model description is a few kilobytes.
const maxFileSize = 1 << 20

// LoadFile reads, strictly decodes, defaults and validates the kaptain.yaml at path.
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, sdkerr.New(sdkerr.UndefinedModelProperty,
				"%s not found: run 'kubectl kaptain init' to write one, or pass -f FILE", path)
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, sdkerr.New(sdkerr.InvalidModelProperty, "%s: larger than %d bytes", path, maxFileSize)
	}
	m, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if m.Spec.Config.BaseDir == "" || !filepath.IsAbs(m.Spec.Config.BaseDir) {
		m.Spec.Config.BaseDir = filepath.Join(dir, m.Spec.Config.BaseDir)
	}
	r := &m.Spec.Config.Registry
	r.DockerConfig = relativeTo(dir, r.DockerConfig)
	r.Certificate = relativeTo(dir, r.Certificate)
	return m, nil
}

// relativeTo resolves a file path written in kaptain.yaml against dir, the file's directory,
// as baseDir is. An empty or absolute path, and one under the home directory (~/, expanded
// where the file is read), stay as written.
func relativeTo(dir, p string) string {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "~/") {
		return p
	}
	return filepath.Join(dir, p)
}

// Parse strictly decodes, defaults and validates a kaptain.yaml document. name is the file
// name used in messages. An unknown field is an error that suggests the nearest known one; a
// value of the wrong type names the field and its line.
func Parse(name string, data []byte) (*Model, error) {
	m, err := Decode(name, data)
	if err != nil {
		return nil, err
	}
	m.Default()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Decode strictly decodes a kaptain.yaml document without defaulting or validating it.
func Decode(name string, data []byte) (*Model, error) {
	m := &Model{Path: name, lines: map[string]int{}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, sdkerr.New(sdkerr.UndefinedModelProperty,
				"%s is empty: it needs apiVersion %s, kind %s and a spec; run 'kubectl kaptain init' for a template", name, APIVersion, Kind)
		}
		return nil, sdkerr.Wrap(sdkerr.InvalidModelProperty, err, "%s: not valid YAML", name)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, sdkerr.New(sdkerr.InvalidModelProperty,
			"%s:%d: a second YAML document; kaptain.yaml holds one Model", name, extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, sdkerr.Wrap(sdkerr.InvalidModelProperty, err, "%s: not valid YAML", name)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return nil, sdkerr.New(sdkerr.UndefinedModelProperty,
			"%s is empty: it needs apiVersion %s, kind %s and a spec; run 'kubectl kaptain init' for a template", name, APIVersion, Kind)
	}
	d := decoder{file: name, lines: m.lines}
	if err := d.decode(root, reflect.ValueOf(m).Elem(), ""); err != nil {
		return nil, err
	}
	return m, nil
}
