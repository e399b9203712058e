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
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/run"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
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

// actionOptions are an ActionFlags resolved once, by complete: the dry-run mode, the namespace,
// the patch files, the printer and the cluster session. It is a value that nothing changes
// after complete: an action nested in a command's (the image build of train --build) gets a
// copy made for it, and the training kind's patches are a copy parsed for that kind.
type actionOptions struct {
	deps           *Deps
	mode           run.Mode
	namespace      string
	forceConflicts bool
	// patchFiles are the --patch files as read; patches are the same parsed for the
	// workload's kind.
	patchFiles []render.PatchFile
	patches    []render.Patch
	printer    *objectPrinter
	session    *session
}

// complete reads the dry-run strategy, namespace (from kubeconfig, no network) and patch
// files, parsed for workloadKind (a kind still to be chosen parses them again, forKind), and
// makes the printer and the session of model m's clients.
func (f *ActionFlags) complete(factory cmdutil.Factory, cmd *cobra.Command, d *Deps, m *model.Model, workloadKind string) (actionOptions, error) {
	strategy, err := cmdutil.GetDryRunStrategy(cmd)
	if err != nil {
		return actionOptions{}, sdkerr.Wrap(sdkerr.Usage, err, "--dry-run")
	}
	ns, _, err := factory.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return actionOptions{}, fmt.Errorf("reading the namespace from kubeconfig: %w", err)
	}
	o := actionOptions{deps: d, mode: run.Mode(strategy), namespace: ns, forceConflicts: f.ForceConflicts}
	for _, p := range f.Patches {
		file, err := render.ReadPatchFile(p)
		if err != nil {
			return actionOptions{}, sdkerr.Wrap(sdkerr.Usage, err, "--patch")
		}
		o.patchFiles = append(o.patchFiles, file)
	}
	if o, err = o.forKind(workloadKind); err != nil {
		return actionOptions{}, err
	}
	if o.printer, err = newObjectPrinter(f.PrintFlags, o.mode, f.ShowSecrets, d.Streams.Out); err != nil {
		return actionOptions{}, err
	}
	o.session = newSession(factory, d, ns, m)
	return o, nil
}

// forKind returns the options with the patches parsed for a workload of kind: JSON 6902
// patches apply to it.
func (o actionOptions) forKind(kind string) (actionOptions, error) {
	o.patches = make([]render.Patch, 0, len(o.patchFiles))
	for _, file := range o.patchFiles {
		patch, err := file.Parse(kind)
		if err != nil {
			return actionOptions{}, sdkerr.Wrap(sdkerr.Usage, err, "--patch")
		}
		o.patches = append(o.patches, patch)
	}
	return o, nil
}

// loadModel reads the model file named by -f.
func (f *ActionFlags) loadModel() (*model.Model, error) {
	return model.LoadFile(f.Filename)
}

// nested returns the options of an action that runs inside this command's (the image build
// of train --build): the same cluster session and dry run, none of the command's patches, and
// its printed objects on out (in the same stream when out is the command's).
func (o actionOptions) nested(out io.Writer) actionOptions {
	o.patchFiles, o.patches = nil, nil
	return o.printingOn(out)
}

// printingOn returns the options printing the objects on out (in the same stream when out is
// the command's).
func (o actionOptions) printingOn(out io.Writer) actionOptions {
	o.printer = o.printer.on(out)
	return o
}

// namesOnly returns the options printing kubectl's "kind/name created" lines on out whatever
// -o says: for commands whose -o formats their result, not their objects.
func (o actionOptions) namesOnly(out io.Writer) actionOptions {
	o.printer = o.printer.namesOn(out)
	return o
}

// objects returns an action of objs with these options' namespace, dry run, patches and
// printer: what every action shares.
func (o actionOptions) objects(objs []*unstructured.Unstructured) run.Action {
	return run.Action{
		Objects:        objs,
		Render:         render.Options{Namespace: o.namespace, Patches: o.patches},
		Mode:           o.mode,
		ForceConflicts: o.forceConflicts,
		Print:          o.printer.print,
	}
}

// action returns an action of objs (see objects) with the model's labels and annotations for
// the given action name, owned by owner.
func (o actionOptions) action(m *model.Model, revision, name string, objs []*unstructured.Unstructured, owner *render.OwnerLinks) run.Action {
	a := o.objects(objs)
	a.Render.Labels, a.Render.Annotations, a.Render.Owner = m.Labels(revision, name), m.Annotations(), owner
	return a
}

// run executes a, connecting to the cluster unless it is a client dry run.
func (o actionOptions) run(ctx context.Context, a run.Action) (*run.Outcome, error) {
	var c run.Clients
	if !o.mode.Offline() {
		var err error
		if c, err = o.session.clients(); err != nil {
			return nil, err
		}
	}
	return run.Run(ctx, c, a, o.deps.progress())
}

// storageSecret returns the Secret with the S3 credentials workloads read, or nil (with a
// warning when something is applied) when none are configured. A client dry run fetches no
// credentials.
func (o actionOptions) storageSecret(ctx context.Context, m *model.Model, name string) (*unstructured.Unstructured, error) {
	data, err := o.s3SecretData(ctx, m, "the workload")
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
func (o actionOptions) s3SecretData(ctx context.Context, m *model.Model, who string) (map[string]string, error) {
	secret, err := credentials.ResolveS3Secret(ctx, s3Settings(m, o.mode.Offline()))
	if errors.Is(err, credentials.ErrNoS3Credentials) {
		if o.mode.Applies() {
			o.deps.progress().Printf("warning: %v; %s gets no storage credentials", err, who)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if w := secret.Warning(); w != "" && o.mode.Applies() {
		o.deps.progress().Printf("warning: %s (%s)", w, who)
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
