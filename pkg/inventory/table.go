package inventory

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/rest"
)

// tableAccept asks the server for its table of the objects (the CRD's printer columns).
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// Column is a column 'get -o wide' adds to the server's table of a kind, read from each object.
type Column struct {
	Name, Description string
	Cell              func(*unstructured.Unstructured) string
}

// Table lists kinds with the same printer columns (TFJobs and PyTorchJobs) as one server-side
// table, with a KIND column first when there are several, chunked as kubectl does, through
// builders from newBuilder (cli-runtime's resource builder); wide adds the kinds' Wide columns,
// read from the objects the server sends with their rows. ok is false when the kinds' columns
// differ, so the caller prints a table per kind instead.
func (inv *Inventory) Table(newBuilder func() *resource.Builder, served []Served, selector string, allNamespaces, wide bool, chunk int64) (*metav1.Table, bool, error) {
	ns := inv.Namespace
	var merged *metav1.Table
	for _, s := range served {
		m := s.Mapping
		var extra []Column
		if wide {
			extra = s.Wide
		}
		r := newBuilder().Unstructured().
			NamespaceParam(ns).DefaultNamespace().AllNamespaces(allNamespaces).
			LabelSelectorParam(selector).RequestChunksOf(chunk).
			ResourceTypeOrNameArgs(true, m.Resource.Resource+"."+m.Resource.Version+"."+m.Resource.Group).
			TransformRequests(func(req *rest.Request) {
				req.SetHeader("Accept", tableAccept)
				if len(extra) > 0 {
					req.Param("includeObject", "Object")
				}
			}).
			ContinueOnError().Flatten().Do()
		// Visit each chunk as it arrives, keeping only its rows, so memory holds one chunk
		// of decoded objects at a time.
		mismatch := false
		err := r.Visit(func(info *resource.Info, err error) error {
			if err != nil {
				return err
			}
			u, ok := info.Object.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("listing %s: the server returned %T, not a table", m.Resource.Resource, info.Object)
			}
			table := &metav1.Table{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, table); err != nil {
				return fmt.Errorf("reading the table of %s: %w", m.Resource.Resource, err)
			}
			columns := table.ColumnDefinitions
			if len(served) > 1 {
				columns = append([]metav1.TableColumnDefinition{{Name: "Kind", Type: "string", Description: "The workload's kind"}}, columns...)
			}
			for _, c := range extra {
				columns = append(columns, metav1.TableColumnDefinition{Name: c.Name, Type: "string", Description: c.Description})
			}
			if merged == nil {
				merged = &metav1.Table{ColumnDefinitions: columns}
			} else if !slices.EqualFunc(merged.ColumnDefinitions, columns, func(a, b metav1.TableColumnDefinition) bool { return a.Name == b.Name && a.Priority == b.Priority }) {
				mismatch = true
				return nil
			}
			for _, row := range table.Rows {
				var obj *unstructured.Unstructured
				if row.Object.Raw != nil && (allNamespaces || len(extra) > 0) {
					// The namespace column and the wide columns read the row's object.
					if o, err := runtime.Decode(unstructured.UnstructuredJSONScheme, row.Object.Raw); err == nil {
						row.Object.Object = o
						obj, _ = o.(*unstructured.Unstructured)
					}
				}
				for _, c := range extra {
					cell := "<none>"
					if obj != nil {
						if v := c.Cell(obj); v != "" {
							cell = v
						}
					}
					row.Cells = append(row.Cells, cell)
				}
				if !allNamespaces {
					row.Object = runtime.RawExtension{}
				}
				if len(served) > 1 {
					row.Cells = append([]any{s.GVK.Kind}, row.Cells...)
				}
				merged.Rows = append(merged.Rows, row)
			}
			return nil
		})
		if err != nil {
			return nil, false, err
		}
		if mismatch {
			return nil, false, nil
		}
	}
	if merged == nil {
		merged = &metav1.Table{}
	}
	return merged, true, nil
}
