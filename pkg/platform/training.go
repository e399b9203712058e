package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Training runtimes' resources (Kubeflow Trainer v2).
var (
	ClusterTrainingRuntimes = schema.GroupVersionResource{Group: workload.TrainerGroup, Version: "v1alpha1", Resource: "clustertrainingruntimes"}
	TrainingRuntimes        = schema.GroupVersionResource{Group: workload.TrainerGroup, Version: "v1alpha1", Resource: "trainingruntimes"}
)

// TrainingChoice is what decides a training job's kind: the model's framework and the API and
// runtime asked for (flag, then kaptain.yaml). The kind is chosen from it once per command, by
// Offline for a client dry run and by Cluster.ChooseTraining against a cluster.
type TrainingChoice struct {
	Framework string
	// API is model.TrainingAPIV1 or model.TrainingAPIV2; empty lets the cluster choose.
	API string
	// Runtime is a ClusterTrainingRuntime NAME or trainingruntime/NAME; empty for the
	// framework's default.
	Runtime string
}

// v2Frameworks train on Kubeflow Trainer v2 only, each on the runtime labelled with its name.
var v2Frameworks = []string{"jax", "xgboost", "mlx"}

// TrainerOnly reports whether a framework trains on Kubeflow Trainer v2 only.
func TrainerOnly(framework string) bool { return slices.Contains(v2Frameworks, framework) }

// Validate refuses a choice no cluster can satisfy; it is pure.
func (c TrainingChoice) Validate() error {
	if c.Runtime != "" {
		if _, _, err := model.ParseRuntime(c.Runtime); err != nil {
			return sdkerr.New(sdkerr.Usage, "--runtime %v", err)
		}
	}
	switch {
	case c.API == model.TrainingAPIV1 && c.Runtime != "":
		return sdkerr.New(sdkerr.Usage, "--runtime names a TrainJob's runtime; it needs --training-api v2, not v1")
	case c.API == model.TrainingAPIV1 && TrainerOnly(c.Framework):
		return sdkerr.New(sdkerr.Usage, "a %s model trains on Kubeflow Trainer v2 only (a TrainJob on a runtime labelled %s=%s); the Training Operator (v1) has no kind for it: drop --training-api v1",
			c.Framework, workload.LabelRuntimeFramework, c.Framework)
	case c.API == model.TrainingAPIV2 && c.Framework == "tensorflow" && c.Runtime == "":
		return sdkerr.New(sdkerr.Usage, "Kubeflow Trainer v2 has no TensorFlow runtime: name a runtime of your own with --runtime, or train a tensorflow model with --training-api v1 (TFJob)")
	}
	return nil
}

// v2 reports whether the choice makes a TrainJob whatever the cluster serves.
func (c TrainingChoice) v2() bool {
	return c.API == model.TrainingAPIV2 || (c.API == "" && (c.Runtime != "" || TrainerOnly(c.Framework)))
}

// defaultRuntime is the runtime a TrainJob of the framework takes when none is asked for,
// without reading the cluster: Trainer's own.
func (c TrainingChoice) defaultRuntime() string {
	if TrainerOnly(c.Framework) {
		return c.Framework + "-distributed"
	}
	return model.DefaultTrainingRuntime
}

// Offline chooses the kind for a client dry run, which reads nothing: the API asked for, else
// TrainJob where only Trainer trains the framework, else the Training Operator's kind. A
// TrainJob's runtime is taken by its name (Trainer's own) or the model's framework. The note,
// when not empty, says on stderr how the cluster may choose otherwise.
func (c TrainingChoice) Offline() (kind workload.TrainingKind, note string, err error) {
	if err := c.Validate(); err != nil {
		return nil, "", err
	}
	if !c.v2() {
		kind = workload.V1Kind(c.Framework)
		if c.API == "" && c.Framework == "pytorch" {
			note = fmt.Sprintf("note: a client dry run renders a %s; where the cluster serves Kubeflow Trainer v2, train makes a TrainJob on %s instead: "+
				"render that with --training-api v2, or ask the cluster with --dry-run=server", kind.GVK().Kind, model.DefaultTrainingRuntime)
		}
		return kind, note, nil
	}
	rtKind, name, err := model.ParseRuntime(cmp.Or(c.Runtime, c.defaultRuntime()))
	if err != nil {
		return nil, "", sdkerr.New(sdkerr.Usage, "--runtime %v", err)
	}
	rt := workload.TrainerRuntime(rtKind, name, c.Framework)
	note = fmt.Sprintf("note: a client dry run reads no runtime: it takes %s %s to have the %s ML policy", strings.ToLower(rtKind), name, rt.Policy)
	if rt.Policy == workload.PolicyMPI {
		note += ", and shows no TrainingRuntime derived from it (the cluster's runs the model's image on every node)"
	}
	if TrainerOnly(c.Framework) && c.Runtime == "" {
		note += fmt.Sprintf("; on the cluster, the runtime labelled %s=%s", workload.LabelRuntimeFramework, c.Framework)
	}
	return workload.TrainJobOn(rt), note + "; --dry-run=server reads it", nil
}

// ChooseTraining chooses the kind of a job against the cluster: the API asked for, else a
// TrainJob where a runtime is asked for or only Trainer trains the framework, else TrainJob
// for a pytorch model where the cluster serves it, else the Training Operator's kind (a
// tensorflow model stays on TFJob: Trainer v2 has no TensorFlow runtime, so on a cluster with
// TrainJob only it needs a runtime of the user's own). A TrainJob's runtime is read (its ML
// policy says how the trainer starts); one the user may not read is passed to warn and
// taken as the image's entrypoint. When the cluster serves neither API, the Training
// Operator's kind is chosen and the apply names the operator to install.
func (cl *Cluster) ChooseTraining(ctx context.Context, c TrainingChoice, warn func(format string, args ...any)) (workload.TrainingKind, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	v1Kind := workload.V1Kind(c.Framework)
	v1, err := cl.serves(v1Kind.GVK())
	if err != nil {
		return nil, err
	}
	trainJob := workload.TrainJobOn(workload.Runtime{}).GVK()
	v2, err := cl.serves(trainJob)
	if err != nil {
		return nil, err
	}
	switch {
	case c.v2():
	case c.API == model.TrainingAPIV1, !v2, c.Framework != "pytorch" && v1:
		return v1Kind, nil
	case c.Framework == "tensorflow":
		return nil, sdkerr.New(sdkerr.WorkloadDeployment,
			"the cluster serves Kubeflow Trainer v2 (TrainJob) but not the Training Operator's TFJob, and Trainer v2 has no TensorFlow runtime: "+
				"install the Kubeflow Training Operator v1 (kubeflow/training-operator, release-1.9) for TFJob, or run it on a TensorFlow runtime of your own with --training-api v2 --runtime NAME")
	}
	if !v2 {
		return nil, sdkerr.New(sdkerr.WorkloadDeployment, "the cluster does not serve %s (%s): %s", trainJob.Kind, trainJob.GroupVersion(), apply.MissingOperatorHint(trainJob))
	}
	name := c.Runtime
	if name == "" && TrainerOnly(c.Framework) {
		if name, err = cl.runtimeFor(ctx, c.Framework); err != nil {
			return nil, err
		}
	}
	rtKind, rtName, err := model.ParseRuntime(cmp.Or(name, c.defaultRuntime()))
	if err != nil {
		return nil, sdkerr.New(sdkerr.Usage, "--runtime %v", err)
	}
	rt, err := cl.TrainingRuntime(ctx, rtKind, rtName)
	var unreadable *RuntimeUnreadableError
	if errors.As(err, &unreadable) {
		warn("warning: %v; creating the TrainJob without checking its runtime, the main file run by the image's entrypoint (docs/rbac.yaml's kubectl-kaptain-runtimes role grants the read)", err)
		return workload.TrainJobOn(workload.Runtime{Kind: rtKind, Name: rtName}), nil
	}
	if err != nil {
		return nil, err
	}
	return workload.TrainJobOn(rt), nil
}

// runtimeFor names the runtime a model of a Trainer-only framework trains on: the one labelled
// trainer.kubeflow.org/framework=<framework> (a namespace's TrainingRuntime before the
// cluster's; Trainer's <framework>-distributed among several). When none is, the error lists
// the runtimes the cluster has; where they may not be listed, Trainer's own name is taken.
func (cl *Cluster) runtimeFor(ctx context.Context, framework string) (string, error) {
	selector := metav1.ListOptions{LabelSelector: workload.LabelRuntimeFramework + "=" + framework}
	var names []string
	local, err := cl.Dynamic.Resource(TrainingRuntimes).Namespace(cl.Namespace).List(ctx, selector)
	if err == nil {
		for _, r := range local.Items {
			names = append(names, "trainingruntime/"+r.GetName())
		}
	}
	cluster, err := cl.Dynamic.Resource(ClusterTrainingRuntimes).List(ctx, selector)
	if apierrors.IsForbidden(err) && len(names) == 0 {
		return framework + "-distributed", nil
	}
	if err != nil && len(names) == 0 {
		return "", fmt.Errorf("listing the %s runtimes: %w", framework, err)
	}
	if err == nil {
		var theirs []string
		for _, r := range cluster.Items {
			theirs = append(theirs, r.GetName())
		}
		slices.Sort(theirs)
		if i := slices.Index(theirs, framework+"-distributed"); i > 0 {
			theirs[0], theirs[i] = theirs[i], theirs[0]
		}
		names = append(names, theirs...)
	}
	if len(names) > 0 {
		return names[0], nil
	}
	have, lerr := cl.runtimes(ctx)
	if lerr != nil || len(have) == 0 {
		return "", sdkerr.New(sdkerr.WorkloadDeployment, "no training runtime is labelled %s=%s, and the cluster has none: install Kubeflow Trainer's runtimes (e.g. %s-distributed)",
			workload.LabelRuntimeFramework, framework, framework)
	}
	return "", sdkerr.New(sdkerr.WorkloadDeployment, "no training runtime is labelled %s=%s; the cluster has %s: install one for %s, or name one with --runtime",
		workload.LabelRuntimeFramework, framework, strings.Join(have, ", "), framework)
}

// TrainingRuntime reads the runtime of a TrainJob (a ClusterTrainingRuntime, or a
// TrainingRuntime of the namespace): its framework, ML policy and jobs. A runtime that does
// not exist is an error that lists the runtimes there are; one whose ML policy kubectl kaptain
// cannot build for, an error that names those it can.
func (cl *Cluster) TrainingRuntime(ctx context.Context, kind, name string) (workload.Runtime, error) {
	res := cl.Dynamic.Resource(ClusterTrainingRuntimes)
	get := res.Get
	if kind == model.KindTrainingRuntime {
		get = cl.Dynamic.Resource(TrainingRuntimes).Namespace(cl.Namespace).Get
	}
	obj, err := get(ctx, name, metav1.GetOptions{})
	if err == nil {
		obj.SetKind(kind)
		rt, err := workload.RuntimeOf(obj)
		if err != nil {
			return rt, sdkerr.Wrap(sdkerr.WorkloadDeployment, err, "")
		}
		return rt, nil
	}
	if apierrors.IsForbidden(err) {
		return workload.Runtime{}, &RuntimeUnreadableError{Kind: kind, Name: name, Err: err}
	}
	if !apierrors.IsNotFound(err) {
		return workload.Runtime{}, fmt.Errorf("reading %s %s: %w", strings.ToLower(kind), name, err)
	}
	have, lerr := cl.runtimes(ctx)
	if lerr != nil {
		return workload.Runtime{}, fmt.Errorf("%s %q not found, and listing the runtimes failed: %w", kind, name, lerr)
	}
	if len(have) == 0 {
		return workload.Runtime{}, sdkerr.New(sdkerr.WorkloadDeployment, "%s %q not found, and the cluster has no training runtimes: install Kubeflow Trainer's runtimes (e.g. torch-distributed)", kind, name)
	}
	return workload.Runtime{}, sdkerr.New(sdkerr.WorkloadDeployment, "%s %q not found; choose one with --runtime: %s", kind, name, strings.Join(have, ", "))
}

// RuntimeUnreadableError is a runtime the user may not read (the ClusterTrainingRuntimes are
// cluster-wide, and a RoleBinding grants none): whether it exists is left to Trainer's webhook.
type RuntimeUnreadableError struct {
	Kind, Name string
	Err        error
}

func (e *RuntimeUnreadableError) Error() string {
	return fmt.Sprintf("cannot read %s %s: %v", e.Kind, e.Name, e.Err)
}

func (e *RuntimeUnreadableError) Unwrap() error { return e.Err }

// runtimes lists the cluster's ClusterTrainingRuntimes and the namespace's TrainingRuntimes
// as "name (framework)", the namespaced ones as "trainingruntime/name (framework)".
func (cl *Cluster) runtimes(ctx context.Context) ([]string, error) {
	var out []string
	describe := func(prefix, name string, labels map[string]string) string {
		fw := labels[workload.LabelRuntimeFramework]
		if fw == "" {
			fw = "framework not labelled"
		}
		return fmt.Sprintf("%s%s (%s)", prefix, name, fw)
	}
	cluster, err := cl.Dynamic.Resource(ClusterTrainingRuntimes).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, r := range cluster.Items {
		out = append(out, describe("", r.GetName(), r.GetLabels()))
	}
	local, err := cl.Dynamic.Resource(TrainingRuntimes).Namespace(cl.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
		return nil, err
	}
	if err == nil {
		for _, r := range local.Items {
			out = append(out, describe("trainingruntime/", r.GetName(), r.GetLabels()))
		}
	}
	slices.Sort(out)
	return out, nil
}
