// Package render turns workload objects into the manifests an action applies or prints: a kyaml
// pipeline of generators, filters (namespace, labels, owner links, user patches, Secret
// redaction, canonical field order) and writers. It never touches the network.
package render

import (
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/kio/filters"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Annotations the pipeline uses internally; neither reaches the cluster.
const (
	// AnnotationOwnedBy names the object of the same action that owns this one, as
	// "apiVersion/Kind/name"; apply turns it into an owner reference once the owner exists.
	AnnotationOwnedBy = "kaptain.dev/owned-by"
	// AnnotationRedacted marks a Secret whose values were hidden in printed output.
	AnnotationRedacted = "kaptain.dev/redacted"
)

// Options selects the filters of a render.
type Options struct {
	// Namespace is set on every object.
	Namespace string
	// Labels are set on every object and its pod templates.
	Labels map[string]string
	// Annotations are set on every object.
	Annotations map[string]string
	// Owner, when set, owns the objects of the kinds in OwnedKinds.
	Owner *OwnerLinks
	// Patches are applied in order after the other filters.
	Patches []Patch
}

// Render runs objs through the pipeline the options describe and returns the resulting nodes
// in canonical field order.
func Render(objs []*unstructured.Unstructured, o Options) ([]*yaml.RNode, error) {
	var fs []kio.Filter
	if o.Namespace != "" {
		fs = append(fs, kio.FilterAll(Namespace{Namespace: o.Namespace}))
	}
	if len(o.Labels) > 0 {
		fs = append(fs, kio.FilterAll(Labels{Labels: o.Labels}))
	}
	if len(o.Annotations) > 0 {
		fs = append(fs, kio.FilterAll(Annotations{Annotations: o.Annotations}))
	}
	if o.Owner != nil {
		fs = append(fs, *o.Owner)
	}
	for _, p := range o.Patches {
		fs = append(fs, p)
	}
	if len(o.Patches) > 0 {
		fs = append(fs, kio.FilterAll(Kept{Namespace: o.Namespace, Labels: o.Labels}))
	}
	fs = append(fs, filters.FormatFilter{})
	out := &NodeWriter{}
	p := kio.Pipeline{
		Inputs:                []kio.Reader{ObjectReader{Objects: objs}},
		Filters:               fs,
		Outputs:               []kio.Writer{out},
		ContinueOnEmptyResult: true,
	}
	if err := p.Execute(); err != nil {
		return nil, fmt.Errorf("rendering manifests: %w", err)
	}
	return out.Nodes, nil
}

// ObjectReader is a kio.Reader (a generator) over Kubernetes objects.
type ObjectReader struct {
	Objects []*unstructured.Unstructured
}

// Read converts each object to a node.
func (r ObjectReader) Read() ([]*yaml.RNode, error) {
	out := make([]*yaml.RNode, 0, len(r.Objects))
	for _, obj := range r.Objects {
		n, err := yaml.FromMap(obj.Object)
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		out = append(out, n)
	}
	return out, nil
}

// NodeWriter is a kio.Writer that keeps the nodes, without the pipeline's internal
// annotations.
type NodeWriter struct {
	Nodes []*yaml.RNode
}

// Write stores nodes.
func (w *NodeWriter) Write(nodes []*yaml.RNode) error {
	for _, n := range nodes {
		if err := clearInternalAnnotations(n); err != nil {
			return err
		}
	}
	w.Nodes = nodes
	return nil
}

func clearInternalAnnotations(n *yaml.RNode) error {
	annotations := n.GetAnnotations()
	for k := range annotations {
		if strings.HasPrefix(k, "internal.config.kubernetes.io/") || strings.HasPrefix(k, "config.kubernetes.io/") || strings.HasPrefix(k, "config.k8s.io/") {
			if _, err := n.Pipe(yaml.ClearAnnotation(k)); err != nil {
				return fmt.Errorf("clearing annotation %s: %w", k, err)
			}
		}
	}
	if len(n.GetAnnotations()) == 0 {
		if err := n.PipeE(yaml.Lookup("metadata"), yaml.Clear("annotations")); err != nil {
			return fmt.Errorf("clearing annotations: %w", err)
		}
	}
	return nil
}

// WriteYAML writes nodes as a YAML stream separated by "---".
func WriteYAML(w io.Writer, nodes []*yaml.RNode) error {
	return kio.ByteWriter{Writer: w}.Write(nodes)
}

// Objects converts nodes back to Kubernetes objects, in order.
func Objects(nodes []*yaml.RNode) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(nodes))
	for _, n := range nodes {
		data, err := n.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("encoding %s %s: %w", n.GetKind(), n.GetName(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("decoding %s %s: %w", n.GetKind(), n.GetName(), err)
		}
		out = append(out, u)
	}
	return out, nil
}
