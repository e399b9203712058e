package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
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

type decoder struct {
	file  string
	lines map[string]int
	depth int
}

func (d *decoder) errorf(c sdkerr.Class, line int, path, format string, args ...any) error {
	return sdkerr.New(c, "%s:%d: %s: %s", d.file, line, path, fmt.Sprintf(format, args...))
}

// decode sets v from n, checking every key against v's json field names and every scalar
// against v's kind.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 32 {
		return d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "nested too deeply")
	}
	if n.Kind == yaml.AliasNode {
		return d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "YAML aliases are not supported in kaptain.yaml; write the value out")
	}
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		if err := d.decode(n, p.Elem(), path); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Struct:
		return d.decodeStruct(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return d.typeError(n, path, "a map of name: value")
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return d.typeError(k, path, "a map with plain keys")
			}
			if seen[k.Value] {
				return d.errorf(sdkerr.InvalidModelProperty, k.Line, path+"."+k.Value, "defined twice")
			}
			seen[k.Value] = true
			ev := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(val, ev, path+"."+k.Value); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), ev)
		}
		v.Set(m)
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.typeError(n, path, "a list")
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Interface:
		x, err := d.scalarValue(n, path)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(x))
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.typeError(n, path, "a string")
		}
		// Any scalar reads as a string: version: 1.0 means "1.0".
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		b, ok := scalarBool(n)
		if !ok {
			return d.typeError(n, path, "true or false")
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
			return d.typeError(n, path, "an integer")
		}
		v.SetInt(i)
		return nil
	case reflect.Float64:
		var f float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") || n.Decode(&f) != nil {
			return d.typeError(n, path, "a number")
		}
		v.SetFloat(f)
		return nil
	}
	return d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "cannot decode into %s", v.Type())
}

// integerText is how an integer is written in YAML, '_' separators included.
var integerText = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)

// scalarValue reads a value of any type (a hyperparameter): a string, an integer that fits
// in 64 bits (an int), a float64 or a bool, each as written. Other YAML types (timestamps,
// binary, custom tags) and integers too large for 64 bits would reach the trainer changed,
// so they are refused with a hint to quote the value. NaN and infinities are decoded, for
// Validate to refuse.
func (d *decoder) scalarValue(n *yaml.Node, path string) (any, error) {
	const want = "a number, string or boolean"
	if n.Kind != yaml.ScalarNode {
		return nil, d.typeError(n, path, want)
	}
	quote := fmt.Sprintf("quote it (%q) to pass it as written", n.Value)
	switch tag := n.ShortTag(); tag {
	case "!!str":
		return n.Value, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, d.typeError(n, path, "true or false")
		}
		return b, nil
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil {
			return nil, d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "%s is an integer too large for 64 bits; %s", n.Value, quote)
		}
		if int64(int(i)) == i {
			return int(i), nil
		}
		return i, nil
	case "!!float":
		if n.Style&yaml.TaggedStyle == 0 && integerText.MatchString(n.Value) {
			// YAML reads an integer beyond 64 bits as a float, keeping 17 digits of it.
			return nil, d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "%s is an integer too large for 64 bits and would lose digits as a float; %s", n.Value, quote)
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, d.typeError(n, path, want)
		}
		return f, nil
	case "!!timestamp":
		return nil, d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "%s reads as a YAML timestamp, which would reach the trainer reformatted; %s", n.Value, quote)
	default:
		return nil, d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "expected %s, got a YAML %s value; remove the tag, or %s", want, tag, quote)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	what := "a map of fields"
	if path == "" {
		what = "a Model object (apiVersion, kind, spec)"
	}
	if n.Kind != yaml.MappingNode {
		return d.typeError(n, pathOr(path), what)
	}
	fields := jsonFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		child := k.Value
		if path != "" {
			child = path + "." + k.Value
		}
		if k.Kind != yaml.ScalarNode {
			return d.typeError(k, pathOr(path), "a map with plain keys")
		}
		idx, ok := fields[k.Value]
		if !ok {
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			msg := "unknown field"
			if s := Suggest(k.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				sort.Strings(names)
				msg += "; known fields: " + strings.Join(names, ", ")
			}
			return d.errorf(sdkerr.InvalidModelProperty, k.Line, child, "%s", msg)
		}
		if seen[k.Value] {
			return d.errorf(sdkerr.InvalidModelProperty, k.Line, child, "defined twice")
		}
		seen[k.Value] = true
		d.lines[child] = k.Line
		if err := d.decode(val, v.Field(idx), child); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoder) typeError(n *yaml.Node, path, want string) error {
	got := n.Value
	switch n.Kind {
	case yaml.MappingNode:
		got = "a map"
	case yaml.SequenceNode:
		got = "a list"
	default:
		got = fmt.Sprintf("%q", got)
	}
	return d.errorf(sdkerr.InvalidModelProperty, n.Line, path, "expected %s, got %s", want, got)
}

func pathOr(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

// scalarBool reads a YAML boolean, accepting yes / no / y / n / on / off as the SDK's
// environment variables do.
func scalarBool(n *yaml.Node) (value, ok bool) {
	if n.Kind != yaml.ScalarNode {
		return false, false
	}
	if n.ShortTag() == "!!bool" {
		return value, n.Decode(&value) == nil
	}
	switch strings.ToLower(n.Value) {
	case "yes", "y", "on":
		return true, n.ShortTag() == "!!str"
	case "no", "n", "off":
		return false, n.ShortTag() == "!!str"
	}
	return false, false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// jsonFields maps the json names of t's exported fields to their index.
func jsonFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		out[name] = i
	}
	return out
}

// Suggest returns the candidate nearest to s (ignoring case, '_' and '-', so the SDK's
// main_file suggests mainFile), or "" when none is near.
func Suggest(s string, candidates []string) string {
	norm := func(x string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(x))
	}
	ns := norm(s)
	best, bestDist := "", -1
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	for _, c := range sorted {
		dist := levenshtein(ns, norm(c))
		if bestDist < 0 || dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if bestDist < 0 || bestDist > max(2, len(ns)/3) {
		return ""
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
