package render

import (
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Namespace sets metadata.namespace on an object.
type Namespace struct {
	Namespace string `json:"namespace" yaml:"namespace"`
}

// Filter sets the namespace.
func (f Namespace) Filter(n *yaml.RNode) (*yaml.RNode, error) {
	if err := n.SetNamespace(f.Namespace); err != nil {
		return nil, fmt.Errorf("setting namespace on %s %s: %w", n.GetKind(), n.GetName(), err)
	}
	return n, nil
}

// Kept keeps, after the user's patches, what kubectl kaptain finds its objects by: their
// namespace (a patch that moves an object is refused: its owner and the commands that list
// it stay in the action's namespace) and the object's own labels (set again where a patch
// removed or changed them, so that get, delete, clean and diagnose still see it).
type Kept struct {
	Namespace string            `json:"namespace" yaml:"namespace"`
	Labels    map[string]string `json:"labels" yaml:"labels"`
}

// Filter checks the namespace and sets the labels again.
func (f Kept) Filter(n *yaml.RNode) (*yaml.RNode, error) {
	if f.Namespace != "" && n.GetNamespace() != f.Namespace {
		return nil, fmt.Errorf("a --patch moves %s %s to namespace %q: kubectl kaptain makes everything of an action in its namespace %q (use -n)", n.GetKind(), n.GetName(), n.GetNamespace(), f.Namespace)
	}
	for _, k := range slices.Sorted(maps.Keys(f.Labels)) {
		if err := setMetadata(n, "labels", k, f.Labels[k]); err != nil {
			return nil, fmt.Errorf("setting label %s on %s %s: %w", k, n.GetKind(), n.GetName(), err)
		}
	}
	return n, nil
}

// Labels sets labels on an object and on every pod template inside it (any "template" map
// with a "spec", at any depth, except a template of templates such as a TrainJob's patch of
// the Jobs its JobSet makes), so that pods carry them too, and Jobs made by others do not.
type Labels struct {
	Labels map[string]string `json:"labels" yaml:"labels"`
}

// Filter sets the labels.
func (f Labels) Filter(n *yaml.RNode) (*yaml.RNode, error) {
	keys := slices.Sorted(maps.Keys(f.Labels))
	set := func(target *yaml.RNode) error {
		for _, k := range keys {
			if err := setMetadata(target, "labels", k, f.Labels[k]); err != nil {
				return fmt.Errorf("setting label %s on %s %s: %w", k, n.GetKind(), n.GetName(), err)
			}
		}
		return nil
	}
	if err := set(n); err != nil {
		return nil, err
	}
	for _, tmpl := range podTemplates(n.Field("spec")) {
		if err := set(tmpl); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// podTemplates finds the maps under field "template" that have a "spec" without a template
// of its own, depth first.
func podTemplates(field *yaml.MapNode) []*yaml.RNode {
	if field == nil {
		return nil
	}
	var out []*yaml.RNode
	var walk func(key string, n *yaml.RNode)
	walk = func(key string, n *yaml.RNode) {
		switch n.YNode().Kind {
		case yaml.MappingNode:
			if spec := n.Field("spec"); key == "template" && spec != nil && spec.Value.Field("template") == nil {
				out = append(out, n)
			}
			_ = n.VisitFields(func(f *yaml.MapNode) error {
				walk(f.Key.YNode().Value, f.Value)
				return nil
			})
		case yaml.SequenceNode:
			for _, item := range n.Content() {
				walk("", yaml.NewRNode(item))
			}
		}
	}
	walk(field.Key.YNode().Value, field.Value)
	return out
}

// Annotations sets annotations on an object.
type Annotations struct {
	Annotations map[string]string `json:"annotations" yaml:"annotations"`
}

// Filter sets the annotations.
func (f Annotations) Filter(n *yaml.RNode) (*yaml.RNode, error) {
	for _, k := range slices.Sorted(maps.Keys(f.Annotations)) {
		if err := setMetadata(n, "annotations", k, f.Annotations[k]); err != nil {
			return nil, fmt.Errorf("setting annotation %s on %s %s: %w", k, n.GetKind(), n.GetName(), err)
		}
	}
	return n, nil
}

// OwnerLinks marks the objects of the kinds in OwnedKinds as owned by the object Owner names,
// with the annotation kaptain.dev/owned-by. Apply turns the mark into an owner reference once
// the owner exists, so the garbage collector removes them with their owner.
type OwnerLinks struct {
	// APIVersion, Kind and Name identify the owner among the rendered objects.
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"`
	Name       string `json:"name" yaml:"name"`
	// OwnedKinds are the kinds that the owner owns, e.g. Secret, ServiceAccount.
	OwnedKinds []string `json:"ownedKinds" yaml:"ownedKinds"`
}

// Filter marks the owned objects; it fails when the owner is not among the nodes.
func (f OwnerLinks) Filter(nodes []*yaml.RNode) ([]*yaml.RNode, error) {
	found := false
	for _, n := range nodes {
		if n.GetApiVersion() == f.APIVersion && n.GetKind() == f.Kind && n.GetName() == f.Name {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("linking owners: owner %s %s is not among the rendered objects", f.Kind, f.Name)
	}
	link := f.APIVersion + "/" + f.Kind + "/" + f.Name
	for _, n := range nodes {
		if !slices.Contains(f.OwnedKinds, n.GetKind()) {
			continue
		}
		if err := setMetadata(n, "annotations", AnnotationOwnedBy, link); err != nil {
			return nil, fmt.Errorf("linking %s %s to its owner: %w", n.GetKind(), n.GetName(), err)
		}
	}
	return nodes, nil
}

// Redact hides the values of a Secret's data and stringData, and marks it with
// kaptain.dev/redacted, so printed output never carries credentials.
type Redact struct{}

// Filter redacts a Secret and leaves other objects alone.
func (Redact) Filter(n *yaml.RNode) (*yaml.RNode, error) {
	if n.GetKind() != "Secret" || n.GetApiVersion() != "v1" {
		return n, nil
	}
	redacted := false
	for _, field := range []string{"data", "stringData"} {
		m := n.Field(field)
		if m == nil || m.Value.YNode().Kind != yaml.MappingNode {
			continue
		}
		value := "<redacted>"
		if field == "data" {
			value = "PHJlZGFjdGVkPg==" // base64 of "<redacted>", so data stays valid base64
		}
		if err := m.Value.VisitFields(func(f *yaml.MapNode) error {
			f.Value.YNode().Value = value
			f.Value.YNode().Tag = yaml.NodeTagString
			f.Value.YNode().Style = 0
			redacted = true
			return nil
		}); err != nil {
			return nil, fmt.Errorf("redacting Secret %s: %w", n.GetName(), err)
		}
	}
	// kubectl apply's copy of the object holds every value in clear text.
	if annotations := n.GetAnnotations(); annotations[lastApplied] != "" {
		if err := setMetadata(n, "annotations", lastApplied, "<redacted>"); err != nil {
			return nil, fmt.Errorf("redacting Secret %s: %w", n.GetName(), err)
		}
		redacted = true
	}
	if redacted {
		if err := setMetadata(n, "annotations", AnnotationRedacted, "true"); err != nil {
			return nil, fmt.Errorf("redacting Secret %s: %w", n.GetName(), err)
		}
	}
	return n, nil
}

// Redacted returns obj with its values hidden by Redact when it is a Secret, else obj itself;
// obj is not changed. Printers call it on what they print.
func Redacted(obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if obj.GetKind() != "Secret" || obj.GetAPIVersion() != "v1" {
		return obj, nil
	}
	n, err := yaml.FromMap(obj.Object)
	if err != nil {
		return nil, fmt.Errorf("redacting Secret %s: %w", obj.GetName(), err)
	}
	if n, err = (Redact{}).Filter(n); err != nil {
		return nil, err
	}
	m, err := n.Map()
	if err != nil {
		return nil, fmt.Errorf("redacting Secret %s: %w", obj.GetName(), err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// lastApplied is the annotation where kubectl apply keeps the object it applied.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// setMetadata sets metadata.<field>.<key> to a string value, quoted only where YAML needs it.
func setMetadata(n *yaml.RNode, field, key, value string) error {
	return n.PipeE(yaml.LookupCreate(yaml.MappingNode, "metadata", field), yaml.SetField(key, yaml.NewStringRNode(value)))
}
