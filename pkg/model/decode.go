package model

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

type decoder struct {
	file  string
	lines map[string]int
	depth int
}

func (d *decoder) errorf(line int, path, format string, args ...any) error {
	return sdkerr.New(sdkerr.InvalidModelProperty, "%s:%d: %s: %s", d.file, line, path, fmt.Sprintf(format, args...))
}

// decode sets v from n, checking every key against v's json field names and every scalar
// against v's kind.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 32 {
		return d.errorf(n.Line, path, "nested too deeply")
	}
	if n.Kind == yaml.AliasNode {
		return d.errorf(n.Line, path, "YAML aliases are not supported in kaptain.yaml; write the value out")
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
				return d.errorf(k.Line, path+"."+k.Value, "defined twice")
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
	return d.errorf(n.Line, path, "cannot decode into %s", v.Type())
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
			return nil, d.errorf(n.Line, path, "%s is an integer too large for 64 bits; %s", n.Value, quote)
		}
		if int64(int(i)) == i {
			return int(i), nil
		}
		return i, nil
	case "!!float":
		if n.Style&yaml.TaggedStyle == 0 && integerText.MatchString(n.Value) {
			// YAML reads an integer beyond 64 bits as a float, keeping 17 digits of it.
			return nil, d.errorf(n.Line, path, "%s is an integer too large for 64 bits and would lose digits as a float; %s", n.Value, quote)
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, d.typeError(n, path, want)
		}
		return f, nil
	case "!!timestamp":
		return nil, d.errorf(n.Line, path, "%s reads as a YAML timestamp, which would reach the trainer reformatted; %s", n.Value, quote)
	default:
		return nil, d.errorf(n.Line, path, "expected %s, got a YAML %s value; remove the tag, or %s", want, tag, quote)
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
			return d.errorf(k.Line, child, "%s", msg)
		}
		if seen[k.Value] {
			return d.errorf(k.Line, child, "defined twice")
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
	return d.errorf(n.Line, path, "expected %s, got %s", want, got)
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
