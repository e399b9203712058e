package plugin

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// ActionFlags are the flags every mutating command shares: the model file, dry-run, output,
// user patches and Secret display.
type ActionFlags struct {
	Filename       string
	Patches        []string
	ShowSecrets    bool
	ForceConflicts bool
	PrintFlags     *genericclioptions.PrintFlags
}

// NewActionFlags returns the flags with kubectl's defaults.
func NewActionFlags() *ActionFlags {
	return &ActionFlags{
		Filename:   "kaptain.yaml",
		PrintFlags: genericclioptions.NewPrintFlags("created"),
	}
}

// AddFlags binds the flags to cmd.
func (f *ActionFlags) AddFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&f.Filename, "filename", "f", f.Filename, "The model's kaptain.yaml.")
	fs.StringArrayVar(&f.Patches, "patch", nil, "A patch file applied to the rendered objects: a partial object with its kind (strategic merge, e.g. tolerations or a nodeSelector) or a list of JSON 6902 operations (applied to the workload). Repeatable.")
	fs.BoolVar(&f.ShowSecrets, "show-secrets", false, "Print Secret values instead of <redacted>.")
	fs.BoolVar(&f.ForceConflicts, "force-conflicts", false, "Take over fields that another field manager owns.")
	cmdutil.AddDryRunFlag(cmd)
	f.PrintFlags.AddFlags(cmd)
}

// actionContext is an ActionFlags completed against the command line and kubeconfig.
type actionContext struct {
	deps      *Deps
	flags     *ActionFlags
	dryRun    cmdutil.DryRunStrategy
	namespace string
	patches   []render.Patch
	out       io.Writer
	// applier is set once run has applied objects, for waiting and cleanup.
	applier *apply.Applier
}

// complete reads the dry-run strategy, namespace (from kubeconfig, no network) and patches.
func (f *ActionFlags) complete(cmd *cobra.Command, d *Deps, workloadKind string) (*actionContext, error) {
	dryRun, err := cmdutil.GetDryRunStrategy(cmd)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "--dry-run")
	}
	ns, _, err := d.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	ac := &actionContext{deps: d, flags: f, dryRun: dryRun, namespace: ns, out: d.Streams.Out}
	for _, p := range f.Patches {
		patch, err := render.ReadPatchFile(p, workloadKind)
		if err != nil {
			return nil, sdkerr.Wrap(sdkerr.Usage, err, "--patch")
		}
		ac.patches = append(ac.patches, patch)
	}
	if _, err := f.PrintFlags.ToPrinter(); err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "--output")
	}
	return ac, nil
}

// loadModel reads the model file named by -f.
func (f *ActionFlags) loadModel() (*model.Model, error) {
	return model.LoadFile(f.Filename)
}

// run renders objs with opts (namespace and patches added), then prints them (client dry
// run) or applies them and prints what the server returned.
func (ac *actionContext) run(ctx context.Context, objs []*unstructured.Unstructured, opts render.Options) ([]apply.Result, error) {
	opts.Namespace = ac.namespace
	opts.Patches = ac.patches
	nodes, err := render.Render(objs, opts)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "")
	}
	rendered, err := render.Objects(nodes)
	if err != nil {
		return nil, err
	}
	if ac.dryRun == cmdutil.DryRunClient {
		results := make([]apply.Result, len(rendered))
		for i, obj := range rendered {
			results[i] = apply.Result{Object: obj, Operation: apply.Created}
		}
		return results, ac.print(results)
	}
	mapper, err := ac.deps.Factory.ToRESTMapper()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	client, err := ac.deps.Factory.DynamicClient()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	a := &apply.Applier{Client: client, Mapper: mapper, DryRun: ac.dryRun == cmdutil.DryRunServer, ForceConflicts: ac.flags.ForceConflicts}
	ac.applier = a
	results, err := a.Apply(ctx, rendered)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C while applying: Apply removed what it had created.
		return nil, sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; nothing was left behind")
	}
	if err != nil {
		return nil, err
	}
	return results, ac.print(results)
}

// print writes results with the -o printer, redacting Secrets unless --show-secrets; without
// -o it writes kubectl's "kind/name created" lines.
func (ac *actionContext) print(results []apply.Result) error {
	objs := make([]*unstructured.Unstructured, len(results))
	for i, r := range results {
		objs[i] = r.Object
	}
	if !ac.flags.ShowSecrets {
		nodes, err := render.Render(objs, render.Options{Redact: true})
		if err != nil {
			return err
		}
		if objs, err = render.Objects(nodes); err != nil {
			return err
		}
	}
	format := ""
	if ac.flags.PrintFlags.OutputFormat != nil {
		format = *ac.flags.PrintFlags.OutputFormat
	}
	if format == "" {
		suffix := ""
		switch ac.dryRun {
		case cmdutil.DryRunClient:
			suffix = " (dry run)"
		case cmdutil.DryRunServer:
			suffix = " (server dry run)"
		}
		for i, obj := range objs {
			p := &printers.NamePrinter{Operation: string(results[i].Operation) + suffix}
			if err := p.PrintObj(obj, ac.out); err != nil {
				return fmt.Errorf("printing %s: %w", obj.GetName(), err)
			}
		}
		return nil
	}
	printer, err := ac.flags.PrintFlags.ToPrinter()
	if err != nil {
		return sdkerr.Wrap(sdkerr.Usage, err, "--output")
	}
	if format == "json" && len(objs) > 1 {
		list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
		for _, obj := range objs {
			list.Items = append(list.Items, *obj)
		}
		return printer.PrintObj(list, ac.out)
	}
	for _, obj := range objs {
		if err := printer.PrintObj(obj, ac.out); err != nil {
			return fmt.Errorf("printing %s: %w", obj.GetName(), err)
		}
	}
	return nil
}
