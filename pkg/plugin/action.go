package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
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

// actionContext is an ActionFlags completed against the command line and kubeconfig: what
// every action of one command shares. Each action gets its own patches and output.
type actionContext struct {
	deps      *Deps
	factory   cmdutil.Factory
	flags     *ActionFlags
	mode      run.Mode
	namespace string
	patches   []render.Patch
	// out receives the printed objects.
	out     io.Writer
	clients *run.Clients
	// printers are made once per command (and shared with nested actions), so that a YAML
	// stream printed by several actions stays one stream.
	printers map[apply.Operation]printers.ResourcePrinter
}

// complete reads the dry-run strategy, namespace (from kubeconfig, no network) and patches.
func (f *ActionFlags) complete(factory cmdutil.Factory, cmd *cobra.Command, d *Deps, workloadKind string) (*actionContext, error) {
	strategy, err := cmdutil.GetDryRunStrategy(cmd)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "--dry-run")
	}
	ns, _, err := factory.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	ac := &actionContext{deps: d, factory: factory, flags: f, mode: run.Mode(strategy), namespace: ns, out: d.Streams.Out, printers: map[apply.Operation]printers.ResourcePrinter{}}
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

// retargetPatches points the JSON 6902 patches read for the workload kind from at kind to,
// once the training API is chosen.
func (ac *actionContext) retargetPatches(from, to string) {
	for i := range ac.patches {
		if ac.patches[i].Type == render.JSON6902 && ac.patches[i].TargetKind == from {
			ac.patches[i].TargetKind = to
		}
	}
}

// loadModel reads the model file named by -f.
func (f *ActionFlags) loadModel() (*model.Model, error) {
	return model.LoadFile(f.Filename)
}

// nested returns the context of an action that runs inside this command's (the image build
// of train --build): the same cluster and dry run, none of the command's patches, and its
// printed objects on out.
func (ac *actionContext) nested(out io.Writer) *actionContext {
	n := *ac
	n.patches, n.out = nil, out
	if out != ac.out {
		// A YAML printer separates what it printed before; on another stream it starts anew.
		n.printers = map[apply.Operation]printers.ResourcePrinter{}
	}
	return &n
}

// namesOnly returns a copy of the context that prints kubectl's "kind/name created" lines
// on out whatever -o says: for commands whose -o formats their result, not their objects.
func (ac *actionContext) namesOnly(out io.Writer) *actionContext {
	n := *ac
	flags := *ac.flags
	flags.PrintFlags = genericclioptions.NewPrintFlags("created")
	n.flags, n.out, n.printers = &flags, out, map[apply.Operation]printers.ResourcePrinter{}
	return &n
}

// connect returns the cluster clients, made once. A client dry run must not call it.
func (ac *actionContext) connect(m *model.Model) (run.Clients, error) {
	if ac.clients != nil {
		return *ac.clients, nil
	}
	f := ac.factory
	mapper, err := f.ToRESTMapper()
	if err != nil {
		return run.Clients{}, fmt.Errorf("connecting to the cluster: %w", err)
	}
	dyn, err := f.DynamicClient()
	if err != nil {
		return run.Clients{}, fmt.Errorf("connecting to the cluster: %w", err)
	}
	cs, err := f.KubernetesClientSet()
	if err != nil {
		return run.Clients{}, fmt.Errorf("connecting to the cluster: %w", err)
	}
	c := run.Clients{Dynamic: dyn, Pods: cs.CoreV1(), Mapper: mapper}
	if m != nil {
		c.Records = track.Recorder{Store: newStore(ac.deps, cs.CoreV1(), ac.namespace, m), ModelID: m.Spec.ID, KubeName: m.KubeName()}
	}
	ac.clients = &c
	return c, nil
}

// action returns an action of objs with this context's namespace, dry run, patches and
// printer, and the model's labels for the given action name.
func (ac *actionContext) action(m *model.Model, revision, name string, objs []*unstructured.Unstructured, owner *render.OwnerLinks) run.Action {
	return run.Action{
		Objects: objs,
		Render: render.Options{
			Namespace: ac.namespace, Labels: m.Labels(revision, name), Annotations: m.Annotations(),
			Owner: owner, Patches: ac.patches,
		},
		Mode:           ac.mode,
		ForceConflicts: ac.flags.ForceConflicts,
		Print:          ac.print,
	}
}

// run executes a, connecting to the cluster unless it is a client dry run.
func (ac *actionContext) run(ctx context.Context, m *model.Model, a run.Action) (*run.Outcome, error) {
	var c run.Clients
	if !ac.mode.Offline() {
		var err error
		if c, err = ac.connect(m); err != nil {
			return nil, err
		}
	}
	return run.Run(ctx, c, a, ac.deps.progress())
}

// print writes results with the -o printer, redacting Secrets unless --show-secrets;
// without -o it writes kubectl's "kind/name created" lines, with the dry run's suffix.
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
	pf := ac.flags.PrintFlags
	toPrinter := func(operation string) (printers.ResourcePrinter, error) {
		pf.NamePrintFlags.Operation = operation
		p, err := cmdutil.PrintFlagsWithDryRunStrategy(pf, ac.mode.Strategy()).ToPrinter()
		if err != nil {
			return nil, sdkerr.Wrap(sdkerr.Usage, err, "--output")
		}
		return p, nil
	}
	if pf.OutputFormat != nil && *pf.OutputFormat == "json" && len(objs) > 1 {
		printer, err := toPrinter(string(apply.Created))
		if err != nil {
			return err
		}
		list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
		for _, obj := range objs {
			list.Items = append(list.Items, *obj)
		}
		return printer.PrintObj(list, ac.out)
	}
	// The name printer says each object's operation; any other printer is made once, since
	// the YAML printer separates the objects it prints.
	names := pf.OutputFormat == nil || *pf.OutputFormat == "" || *pf.OutputFormat == "name"
	byOperation := ac.printers
	for i, obj := range objs {
		op := results[i].Operation
		if !names {
			op = apply.Created
		}
		printer, ok := byOperation[op]
		if !ok {
			var err error
			if printer, err = toPrinter(string(op)); err != nil {
				return err
			}
			byOperation[op] = printer
		}
		if err := printer.PrintObj(obj, ac.out); err != nil {
			return fmt.Errorf("printing %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

// storageSecret returns the Secret with the S3 credentials workloads read, or nil (with a
// warning when something is applied) when none are configured. A client dry run fetches no
// credentials.
func (ac *actionContext) storageSecret(ctx context.Context, m *model.Model, name string) (*unstructured.Unstructured, error) {
	data, err := ac.s3SecretData(ctx, m, "the workload")
	if err != nil || data == nil {
		return nil, err
	}
	return workload.Secret(name, data)
}

// secretKeys are the keys of a Secret's data, none for a nil Secret.
func secretKeys(secret *unstructured.Unstructured) []string {
	if secret == nil {
		return nil
	}
	data, _, _ := unstructured.NestedMap(secret.Object, "data")
	return slices.Sorted(maps.Keys(data))
}

// s3SecretData returns the S3 credentials for a Secret, or nil (with a warning naming who goes
// without, when something is applied) when none are configured.
func (ac *actionContext) s3SecretData(ctx context.Context, m *model.Model, who string) (map[string]string, error) {
	secret, err := credentials.ResolveS3Secret(ctx, s3Settings(m, ac.mode.Offline()))
	if errors.Is(err, credentials.ErrNoS3Credentials) {
		if ac.mode.Applies() {
			ac.deps.progress().Printf("warning: %v; %s gets no storage credentials", err, who)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if w := secret.Warning(); w != "" && ac.mode.Applies() {
		ac.deps.progress().Printf("warning: %s (%s)", w, who)
	}
	return secret.Data, nil
}

// flagValue is the flag's value when it was given, else nil.
func flagValue(set, value bool) *bool {
	if !set {
		return nil
	}
	return &value
}

// s3Settings are the model's S3 settings; offline resolves only credentials written down
// (for client dry runs).
func s3Settings(m *model.Model, offline bool) credentials.S3Settings {
	st := m.Spec.Config.Storage
	return credentials.S3Settings{Endpoint: st.Endpoint, Region: st.Region, ForcePathStyle: st.ForcePathStyle, SignatureVersion: st.SignatureVersion, Offline: offline}
}
