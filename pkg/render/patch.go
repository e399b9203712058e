package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge2"
	"sigs.k8s.io/kustomize/kyaml/yaml/walk"
)

// PatchType says how a Patch applies.
type PatchType string

// The patch types a user may give.
const (
	// StrategicMerge merges a partial object into every object of its kind (and name, when
	// the patch names one); lists of maps with a "name" merge by name.
	StrategicMerge PatchType = "strategic"
	// JSON6902 applies a list of RFC 6902 operations to the action's workload.
	JSON6902 PatchType = "json6902"
)

// Patch is a user patch: a strategic merge of a partial object, or JSON 6902 operations.
type Patch struct {
	Type PatchType `json:"type" yaml:"type"`
	// Source names the patch in errors, e.g. its file.
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
	// Object is the partial object of a strategic merge patch.
	Object *yaml.RNode `json:"-" yaml:"-"`
	// Operations is the JSON of a JSON 6902 patch.
	Operations []byte `json:"-" yaml:"-"`
	// TargetKind and TargetName select the objects to patch; empty matches all.
	TargetKind string `json:"targetKind,omitempty" yaml:"targetKind,omitempty"`
	TargetName string `json:"targetName,omitempty" yaml:"targetName,omitempty"`
}

// PatchFile is a patch file as read, before it is parsed for the kind of the workload it
// patches: a command reads its --patch files once, and parses them once that kind is known.
type PatchFile struct {
	// Source names the patch in errors: its path.
	Source string
	Data   []byte
}

// ReadPatchFile reads a patch file, at most MaxPatchSize bytes.
func ReadPatchFile(path string) (PatchFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return PatchFile{}, fmt.Errorf("reading patch %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPatchSize+1))
	if err != nil {
		return PatchFile{}, fmt.Errorf("reading patch %s: %w", path, err)
	}
	if len(data) > MaxPatchSize {
		return PatchFile{}, fmt.Errorf("patch %s is larger than %d bytes: a patch changes a few fields of a workload", path, MaxPatchSize)
	}
	return PatchFile{Source: path, Data: data}, nil
}

// Parse parses the file for a workload of workloadKind: a YAML or JSON list is a JSON 6902
// patch applied to the workload; a map with a kind is a strategic merge patch for objects of
// that kind.
func (f PatchFile) Parse(workloadKind string) (Patch, error) {
	return ParsePatch(f.Source, f.Data, workloadKind)
}

// MaxPatchSize is the largest patch file read: 1 MiB, as an object the API server takes.
const MaxPatchSize = 1 << 20

// ParsePatch parses patch data; source names it in errors.
func ParsePatch(source string, data []byte, workloadKind string) (Patch, error) {
	n, err := yaml.Parse(string(data))
	if err != nil {
		return Patch{}, fmt.Errorf("patch %s: not valid YAML or JSON: %w", source, err)
	}
	switch n.YNode().Kind {
	case yaml.SequenceNode:
		ops, err := n.MarshalJSON()
		if err != nil {
			return Patch{}, fmt.Errorf("patch %s: %w", source, err)
		}
		for i, op := range n.Content() {
			if yaml.NewRNode(op).Field("op") == nil || yaml.NewRNode(op).Field("path") == nil {
				return Patch{}, fmt.Errorf("patch %s: operation %d needs op and path", source, i)
			}
		}
		if _, err := jsonpatch.DecodePatch(ops); err != nil {
			return Patch{}, fmt.Errorf("patch %s: not a JSON 6902 patch: %w", source, err)
		}
		return Patch{Type: JSON6902, Source: source, Operations: ops, TargetKind: workloadKind}, nil
	case yaml.MappingNode:
		kind := n.GetKind()
		if kind == "" {
			return Patch{}, fmt.Errorf("patch %s: a strategic merge patch needs the kind of the objects it patches (kind: %s)", source, workloadKind)
		}
		return Patch{Type: StrategicMerge, Source: source, Object: n, TargetKind: kind, TargetName: n.GetName()}, nil
	}
	return Patch{}, fmt.Errorf("patch %s: expected a map (strategic merge) or a list of operations (JSON 6902)", source)
}

// Filter applies the patch to the matching nodes; a patch that matches nothing is an error,
// so a mistyped kind does not pass silently.
func (p Patch) Filter(nodes []*yaml.RNode) ([]*yaml.RNode, error) {
	matched := false
	for i, n := range nodes {
		if (p.TargetKind != "" && n.GetKind() != p.TargetKind) || (p.TargetName != "" && n.GetName() != p.TargetName) {
			continue
		}
		matched = true
		patched, err := p.apply(n)
		if err != nil {
			return nil, fmt.Errorf("applying patch %s to %s %s: %w", p.Source, n.GetKind(), n.GetName(), err)
		}
		nodes[i] = patched
	}
	if !matched {
		target := p.TargetKind
		if p.TargetName != "" {
			target += " " + p.TargetName
		}
		return nil, fmt.Errorf("patch %s: no rendered object is a %s", p.Source, target)
	}
	return nodes, nil
}

func (p Patch) apply(n *yaml.RNode) (*yaml.RNode, error) {
	switch p.Type {
	case StrategicMerge:
		// Without an OpenAPI schema for custom resources, infer which lists merge by key
		// (containers and env by name, volumeMounts by mountPath, ...); others are replaced.
		return walk.Walker{
			Sources:               []*yaml.RNode{n, p.Object.Copy()},
			Visitor:               merge2.Merger{},
			InferAssociativeLists: true,
			MergeOptions:          yaml.MergeOptions{ListIncreaseDirection: yaml.MergeOptionsListAppend},
		}.Walk()
	case JSON6902:
		patch, err := jsonpatch.DecodePatch(p.Operations)
		if err != nil {
			return nil, err
		}
		doc, err := n.MarshalJSON()
		if err != nil {
			return nil, err
		}
		out, err := patch.Apply(doc)
		if err != nil {
			return nil, err
		}
		var probe map[string]any
		if err := json.NewDecoder(bytes.NewReader(out)).Decode(&probe); err != nil {
			return nil, err
		}
		return yaml.ConvertJSONToYamlNode(string(out))
	}
	return nil, errors.New("unknown patch type " + string(p.Type))
}
