package plugin

import (
	"fmt"
	"io"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// objectPrinter prints the objects of a command's actions on one stream: with the -o printer,
// or without -o kubectl's "kind/name created" lines with the dry run's suffix. Secrets are
// redacted by the printer itself unless --show-secrets. One is made per stream, so that a YAML
// stream printed by several actions stays one stream. Safe for concurrent use.
type objectPrinter struct {
	flags       genericclioptions.PrintFlags
	mode        run.Mode
	showSecrets bool
	out         io.Writer

	mu sync.Mutex
	// byOperation are the printers made so far: the name printer says each object's
	// operation, any other printer is made once, since the YAML printer separates the
	// objects it prints.
	byOperation map[apply.Operation]printers.ResourcePrinter
}

// newObjectPrinter returns the printer that flags ask for on out, refusing an -o that kubectl's
// printers do not know.
func newObjectPrinter(flags *genericclioptions.PrintFlags, mode run.Mode, showSecrets bool, out io.Writer) (*objectPrinter, error) {
	p := &objectPrinter{flags: *flags, mode: mode, showSecrets: showSecrets, out: out, byOperation: map[apply.Operation]printers.ResourcePrinter{}}
	if _, err := p.printer(apply.Created); err != nil {
		return nil, err
	}
	return p, nil
}

// on returns the printer of the same flags on out: p itself when out is p's stream.
func (p *objectPrinter) on(out io.Writer) *objectPrinter {
	if out == p.out {
		return p
	}
	return &objectPrinter{flags: p.flags, mode: p.mode, showSecrets: p.showSecrets, out: out, byOperation: map[apply.Operation]printers.ResourcePrinter{}}
}

// namesOn returns a printer of kubectl's "kind/name created" lines on out, whatever -o says.
func (p *objectPrinter) namesOn(out io.Writer) *objectPrinter {
	return &objectPrinter{flags: *genericclioptions.NewPrintFlags("created"), mode: p.mode, showSecrets: p.showSecrets, out: out, byOperation: map[apply.Operation]printers.ResourcePrinter{}}
}

// names is true when the printer writes names, not objects.
func (p *objectPrinter) names() bool {
	f := p.flags.OutputFormat
	return f == nil || *f == "" || *f == "name"
}

// printer returns the printer of objects applied with operation, redacting unless
// --show-secrets. The flags are copied, never changed.
func (p *objectPrinter) printer(operation apply.Operation) (printers.ResourcePrinter, error) {
	flags := p.flags
	if flags.NamePrintFlags != nil {
		names := *flags.NamePrintFlags
		names.Operation = string(operation)
		flags.NamePrintFlags = &names
	}
	printer, err := cmdutil.PrintFlagsWithDryRunStrategy(&flags, p.mode.Strategy()).ToPrinter()
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "--output")
	}
	if p.showSecrets {
		return printer, nil
	}
	return redacting{printer}, nil
}

// print writes the results: a JSON list when -o json prints several objects, else each object.
func (p *objectPrinter) print(results []apply.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.flags.OutputFormat; f != nil && *f == "json" && len(results) > 1 {
		printer, err := p.printer(apply.Created)
		if err != nil {
			return err
		}
		list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
		for _, r := range results {
			list.Items = append(list.Items, *r.Object)
		}
		return printer.PrintObj(list, p.out)
	}
	for _, r := range results {
		op := r.Operation
		if !p.names() {
			op = apply.Created
		}
		printer, ok := p.byOperation[op]
		if !ok {
			var err error
			if printer, err = p.printer(op); err != nil {
				return err
			}
			p.byOperation[op] = printer
		}
		if err := printer.PrintObj(r.Object, p.out); err != nil {
			return fmt.Errorf("printing %s: %w", r.Object.GetName(), err)
		}
	}
	return nil
}

// redacting is a printer that hides Secret values (render.Redact) before the printer it wraps
// sees them; the objects given are not changed.
type redacting struct{ printers.ResourcePrinter }

// PrintObj prints obj with its Secrets, and a list's, redacted.
func (r redacting) PrintObj(obj runtime.Object, w io.Writer) error {
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		red, err := render.Redacted(o)
		if err != nil {
			return err
		}
		obj = red
	case *unstructured.UnstructuredList:
		list := o.DeepCopy()
		for i := range list.Items {
			red, err := render.Redacted(&list.Items[i])
			if err != nil {
				return err
			}
			list.Items[i] = *red
		}
		obj = list
	}
	return r.ResourcePrinter.PrintObj(obj, w)
}
