package plugin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/utils/ptr"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/logs"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/track"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// TrainOptions renders and applies a model's distributed training job.
type TrainOptions struct {
	deps   *Deps
	Action *ActionFlags

	Hyperparameters []string
	Args            []string
	Workers         int

	Resources                   ResourceFlags
	BuildFirst                  buildFirst
	TTLSecondsAfterFinished     int
	BackoffLimit                int
	ForceCleanup                bool
	Timeout                     time.Duration
	Wait                        bool
	Verbose                     bool
	ttlSet                      bool
	forceCleanupSet, verboseSet bool

	// Filled by Complete.
	model        *model.Model
	action       *actionContext
	params       map[string]any
	args         map[string]string
	ttl          *int
	forceCleanup bool
	verbose      bool
	revision     string
}

// DefaultBackoffLimit is how many container restarts fail a training job: the Training
// Operator's runPolicy.backoffLimit. The seed gives none; a few retries survive a flaky node.
const DefaultBackoffLimit = 3

// DefaultTrainTimeout bounds the wait for a training job. The seed names the SDK's default
// (constants.DEFAULT_TIMEOUT_SECONDS) without its value; a day lets real trainings finish.
const DefaultTrainTimeout = 24 * time.Hour

// NewCmdTrain returns kubectl kaptain train.
func NewCmdTrain(d *Deps) *cobra.Command {
	o := &TrainOptions{deps: d, Action: NewActionFlags(), Workers: 2, BackoffLimit: DefaultBackoffLimit, Timeout: DefaultTrainTimeout, Wait: true}
	cmd := &cobra.Command{
		Use:   "train [-f kaptain.yaml] [-p name=value]... [--workers N] [--dry-run=none|client|server] [-o yaml|json|name]",
		Short: "Train the model distributed, as a TFJob (tensorflow) or PyTorchJob (pytorch)",
		Long: `Train the model described by kaptain.yaml on the cluster.

A tensorflow model becomes a TFJob with N Worker replicas; a pytorch model a PyTorchJob with a
Master and N-1 Workers. Hyperparameters (the kaptain.yaml hyperparameters map, overridden by
-p) reach the main file as --name=value arguments, followed by --arg values. The code learns
where to save the trained model from TRAINED_MODEL_UPLOAD_PATH and MODEL_LIFECYCLE_PHASE.

Resources are given either simply (--cpu, --memory, --gpus: request equals limit) or in
detail (--cpu-request, --cpu-limit, --memory-request, --memory-limit, --gpu-limit), not both.

With --dry-run=client nothing leaves this machine: the manifests are printed.`,
		Example: `  # Print the training job for kaptain.yaml without contacting the cluster
  kubectl kaptain train --dry-run=client -o yaml

  # Check it against the cluster's API server, then create it
  kubectl kaptain train --dry-run=server
  kubectl kaptain train -p lr=0.01 -p epochs=5 --workers 3 --cpu 1 --memory 2Gi

  # Add tolerations without forking: a strategic merge patch of the TFJob
  kubectl kaptain train --patch gpu-tolerations.yaml --gpus 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd)
		},
	}
	o.Action.AddFlags(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&o.Hyperparameters, "hyperparameter", "p", nil, "A hyperparameter as name=value, passed to the main file as --name=value; overrides kaptain.yaml. Repeatable.")
	f.StringArrayVar(&o.Args, "arg", nil, "A further argument to the main file as name=value. Repeatable.")
	f.IntVar(&o.Workers, "workers", o.Workers, "Number of replicas: TFJob Workers, or PyTorchJob Master plus Workers.")
	o.Resources.addFlags(cmd, "each replica")
	o.BuildFirst.addFlags(cmd)
	f.IntVar(&o.BackoffLimit, "backoff-limit", o.BackoffLimit, "Fail the job once its containers restarted this many times in all (a crashing script would otherwise restart forever).")
	f.IntVar(&o.TTLSecondsAfterFinished, "ttl-seconds-after-finished", 0, "Remove the finished job after so many seconds (default from "+config.EnvTTLSecondsAfterFinished+"; unset keeps it).")
	f.BoolVar(&o.ForceCleanup, "force-cleanup", false, "Delete the job once it finished, ignoring the TTL (default from "+config.EnvForceCleanup+").")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the job to finish (e.g. 30m, 2h).")
	f.BoolVar(&o.Wait, "wait", o.Wait, "Wait for the job to finish, printing its progress; --wait=false returns once it is created.")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "Stream every replica's logs, prefixed with the replica (default from "+config.EnvVerbose+").")
	return cmd
}

// Complete loads the model, parses name=value flags and resolves settings. It reads
// kaptain.yaml, patch files and kubeconfig, and contacts nothing.
func (o *TrainOptions) Complete(cmd *cobra.Command) error {
	fs := cmd.Flags()
	o.ttlSet = fs.Changed("ttl-seconds-after-finished")
	o.forceCleanupSet, o.verboseSet = fs.Changed("force-cleanup"), fs.Changed("verbose")
	o.Resources.complete(cmd)
	m, err := o.Action.loadModel()
	if err != nil {
		return err
	}
	o.model = m
	if err := o.BuildFirst.complete(cmd, o.deps, m); err != nil {
		return err
	}
	params, err := config.ParseKeyValues("--hyperparameter", o.Hyperparameters)
	if err != nil {
		return err
	}
	o.params = maps.Clone(m.Spec.Hyperparameters)
	if o.params == nil {
		o.params = map[string]any{}
	}
	for k, v := range params {
		o.params[k] = v
	}
	if o.args, err = config.ParseKeyValues("--arg", o.Args); err != nil {
		return err
	}
	var ttlFlag *int
	if o.ttlSet {
		ttlFlag = &o.TTLSecondsAfterFinished
	}
	if o.ttl, err = o.deps.Env.Int(ttlFlag, config.EnvTTLSecondsAfterFinished, nil); err != nil {
		return err
	}
	if o.forceCleanup, err = o.deps.Env.Bool(flagValue(o.forceCleanupSet, o.ForceCleanup), config.EnvForceCleanup, false); err != nil {
		return err
	}
	if o.verbose, err = o.deps.Env.Bool(flagValue(o.verboseSet, o.Verbose), config.EnvVerbose, false); err != nil {
		return err
	}
	kind := workload.KindTFJob
	if m.Spec.Framework == "pytorch" {
		kind = workload.KindPyTorchJob
	}
	if o.action, err = o.Action.complete(cmd, o.deps, kind); err != nil {
		return err
	}
	o.revision = o.deps.NewRevision()
	return nil
}

// Validate checks the options against each other and the model. It is pure.
func (o *TrainOptions) Validate() error {
	if !slices.Contains(model.TrainableFrameworks(), o.model.Spec.Framework) {
		return sdkerr.New(sdkerr.ModelValidation, "%s: spec.framework %q cannot be trained; train supports %s",
			o.model.Path, o.model.Spec.Framework, strings.Join(model.TrainableFrameworks(), " and "))
	}
	if o.Workers < 1 {
		return sdkerr.New(sdkerr.Usage, "--workers must be 1 or more, got %d", o.Workers)
	}
	if err := o.Resources.validate(); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return sdkerr.New(sdkerr.Usage, "--timeout must be positive, got %s", o.Timeout)
	}
	if o.BackoffLimit < 0 {
		return sdkerr.New(sdkerr.Usage, "--backoff-limit must be 0 or more, got %d", o.BackoffLimit)
	}
	if o.ttlSet && o.TTLSecondsAfterFinished < 0 {
		return sdkerr.New(sdkerr.Usage, "--ttl-seconds-after-finished must be 0 or more, got %d", o.TTLSecondsAfterFinished)
	}
	for _, k := range slices.Sorted(maps.Keys(o.args)) {
		if _, clash := o.params[k]; clash {
			return sdkerr.New(sdkerr.Usage, "--arg %s is also a hyperparameter; pass it once, with -p", k)
		}
	}
	return nil
}

// JobName is the training job's name: the model's Kubernetes name, "train" and the first six
// characters of the revision.
func JobName(m *model.Model, revision string) string {
	return fmt.Sprintf("%s-train-%s", m.KubeName(), shortRevision(revision))
}

func shortRevision(r string) string {
	r = strings.ReplaceAll(strings.ToLower(r), "-", "")
	if len(r) > 6 {
		r = r[:6]
	}
	return r
}

// Run renders the job (and a Secret with S3 credentials when there are any), prints or
// applies it, and waits for it to finish.
func (o *TrainOptions) Run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	m := o.model
	progress := o.deps.progress()
	var ttl *int32
	if o.ttl != nil {
		v := int32(min(*o.ttl, 1<<31-1))
		ttl = &v
	}
	name := JobName(m, o.revision)
	var objs []*unstructured.Unstructured
	secretName := ""
	secret, err := storageSecret(ctx, o.deps, m, name+"-storage", o.action.dryRun)
	if err != nil {
		return err
	}
	if secret != nil {
		objs = append(objs, secret)
		secretName = secret.GetName()
	}
	image, err := o.BuildFirst.image(ctx, o.action, o.revision, o.verbose)
	if err != nil {
		return err
	}
	job, err := workload.TrainingJob(m, workload.Train{
		Name:                    name,
		Image:                   image,
		Revision:                o.revision,
		Hyperparameters:         o.params,
		Args:                    o.args,
		Workers:                 o.Workers,
		Resources:               o.Resources.resources(),
		TTLSecondsAfterFinished: ttl,
		BackoffLimit:            ptr.To(int32(min(o.BackoffLimit, 1<<31-1))),
		StorageSecret:           secretName,
	})
	if err != nil {
		return sdkerr.Wrap(sdkerr.ModelValidation, err, "")
	}
	objs = append(objs, job)
	if o.action.dryRun == cmdutil.DryRunNone && image == "" {
		progress.Printf("using image %s as given in kaptain.yaml (--build builds it first)", m.Spec.Image)
	}
	results, err := o.action.run(ctx, objs, render.Options{
		Labels:      ModelLabels(m, o.revision, "train"),
		Annotations: map[string]string{render.AnnotationModelID: m.Spec.ID},
		Owner:       &render.OwnerLinks{APIVersion: job.GetAPIVersion(), Kind: job.GetKind(), Name: name, OwnedKinds: []string{"Secret"}},
	})
	if err != nil || o.action.dryRun != cmdutil.DryRunNone {
		return err
	}
	var created []*unstructured.Unstructured
	for _, r := range results {
		if r.Operation == apply.Created {
			created = append(created, r.Object)
		}
	}
	kind := strings.ToLower(job.GetKind())
	if !o.Wait {
		progress.Printf("%s.kubeflow.org/%s submitted; follow it with 'kubectl kaptain logs %s -f'", kind, name, name)
		return nil
	}
	final, waitErr := o.wait(ctx, job)
	if errors.Is(waitErr, context.Canceled) && ctx.Err() != nil {
		// Ctrl-C: remove what this run created, nothing else.
		if err := o.action.applier.Delete(created); err != nil {
			return sdkerr.Wrap(sdkerr.Interrupted, err, "interrupted; cleaning up")
		}
		return sdkerr.New(sdkerr.Interrupted, "interrupted; removed %s", describeObjects(created))
	}
	if o.forceCleanup && final != nil && workload.StateOf(final).Finished() {
		if err := o.action.applier.Delete(created); err != nil {
			return errors.Join(waitErr, err)
		}
		progress.Printf("removed %s (--force-cleanup)", describeObjects(created))
	}
	modelURI := strings.TrimRight(m.Spec.Config.ModelStorageURI, "/") + "/" + m.Spec.ID + "/trained/" + o.revision
	if sdkerr.ClassOf(waitErr) != sdkerr.Timeout { // a job that timed out keeps running
		recordAction(ctx, o.deps, o.action.namespace, m, track.Action{Name: "train", Revision: o.revision, Err: waitErr, Hyperparameters: o.params,
			Image: firstNonEmpty(image, m.Spec.Image), ModelURI: modelURI, Workload: kind + ".kubeflow.org/" + name})
	}
	if waitErr != nil {
		return waitErr
	}
	progress.Printf("trained model %s, revision %s, hyperparameters %s; the code was told to save it to %s",
		m.Spec.ID, o.revision, strings.Join(workload.Arguments(o.params, nil), " "), modelURI)
	return nil
}

// wait watches the job and its pods until the job finishes, a pod cannot run, the timeout
// passes or ctx is cancelled, printing a line per change of state.
func (o *TrainOptions) wait(ctx context.Context, job *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	clientset, err := o.deps.Factory.KubernetesClientSet()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	client, err := o.deps.Factory.DynamicClient()
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	mapping, err := o.action.applier.Mapper.RESTMapping(job.GroupVersionKind().GroupKind(), job.GroupVersionKind().Version)
	if err != nil {
		return nil, err
	}
	name, ref := job.GetName(), strings.ToLower(job.GetKind())+".kubeflow.org/"+job.GetName()
	progress := o.deps.progress()
	var streamer *logs.Streamer
	if o.verbose {
		streamer = &logs.Streamer{Pods: clientset.CoreV1(), Out: o.deps.Streams.ErrOut, Prefix: workload.ReplicaName, Follow: true}
	}
	failures := &logs.Failures{Pods: clientset.CoreV1(), Lines: 20, Prefix: workload.ReplicaName}
	timeoutCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	last := ""
	waiter := &apply.Waiter{Client: client, Pods: clientset.CoreV1()}
	final, err := waiter.Wait(timeoutCtx, apply.Watch{
		Resource: mapping.Resource, Namespace: o.action.namespace, Name: name,
		PodSelector: workload.LabelJobName + "=" + name,
		Done: func(obj *unstructured.Unstructured) (bool, error) {
			st := workload.StateOf(obj)
			if line := st.String(); line != last {
				progress.Printf("%s %s", ref, line)
				last = line
			}
			return st.Finished(), nil
		},
		OnPod: func(pod *corev1.Pod) error {
			if reason, msg, bad := workload.PodProblem(pod); bad {
				return sdkerr.New(sdkerr.WorkloadDeployment, "%s: replica %s (pod %s) cannot run: %s: %s", ref, workload.ReplicaName(pod), pod.Name, reason, msg)
			}
			if streamer != nil {
				streamer.Attach(timeoutCtx, pod)
			}
			failures.Observe(timeoutCtx, pod)
			return nil
		},
	})
	endStreams(streamer, err, cancel, progress)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		state := "not started"
		if final != nil {
			state = workload.StateOf(final).String()
		}
		return final, sdkerr.New(sdkerr.Timeout, "timed out after %s waiting for %s (last state: %s); it keeps running: see 'kubectl kaptain logs %s'", o.Timeout, ref, state, name)
	case err != nil:
		return final, err
	}
	if st := workload.StateOf(final); st.Phase == workload.Failed {
		return final, sdkerr.New(sdkerr.JobFailed, "%s failed: %s%s", ref, firstNonEmpty(st.Message, st.Reason, "no message"), o.failedLogs(ctx, clientset.CoreV1(), name, failures))
	}
	return final, nil
}

// streamDrain is how long the log streams of a finished wait may take to reach their end.
// A replica that still runs when its job ends is stopped by the operator with the pod's grace
// period (30 s by default), and its stream ends when it exits; a stream still open after
// this long is cut, with a line saying so, so that a node that never ends it cannot hold the
// command.
const streamDrain = 35 * time.Second

// endStreams waits for the log streams of a wait that ended: they are cut at once when the
// wait failed, and drained to their end (for at most streamDrain) otherwise. A nil streamer
// is nothing to wait for.
func endStreams(streamer *logs.Streamer, waitErr error, cancel context.CancelFunc, p progress) {
	if streamer == nil {
		return
	}
	if waitErr != nil {
		cancel()
	}
	done := make(chan struct{})
	go func() { streamer.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(streamDrain):
		p.Printf("log streams still open %s after the job ended were cut", streamDrain)
		cancel()
		<-done
	}
}

// failedLogs returns the last lines of the failed replicas' logs, for the error message:
// those kept while waiting, and those of the pods still there.
func (o *TrainOptions) failedLogs(ctx context.Context, pods corev1client.PodsGetter, job string, failures *logs.Failures) string {
	list, err := pods.Pods(o.action.namespace).List(ctx, metav1.ListOptions{LabelSelector: workload.LabelJobName + "=" + job})
	if err == nil {
		for i := range list.Items {
			failures.Observe(ctx, &list.Items[i])
		}
	}
	if report := failures.Report(); report != "" {
		return report
	}
	if err != nil || len(list.Items) == 0 {
		return "\n(no replica logs: the job's pods are gone)"
	}
	return ""
}

// storageSecret returns the Secret with the S3 credentials workloads read, or nil (with a
// warning when something is applied) when none are configured.
func storageSecret(ctx context.Context, d *Deps, m *model.Model, name string, dryRun cmdutil.DryRunStrategy) (*unstructured.Unstructured, error) {
	st := m.Spec.Config.Storage
	data, err := config.S3SecretData(ctx, config.S3Settings{Endpoint: st.Endpoint, Region: st.Region, ForcePathStyle: st.ForcePathStyle, SignatureVersion: st.SignatureVersion, Offline: dryRun == cmdutil.DryRunClient})
	switch {
	case err == nil:
		return workload.Secret(name, data)
	case errors.Is(err, config.ErrNoS3Credentials):
		if dryRun == cmdutil.DryRunNone {
			d.progress().Printf("warning: %v; the workload gets no storage credentials", err)
		}
		return nil, nil
	}
	return nil, err
}

// describeObjects names objects as "tfjob x and secret y".
func describeObjects(objs []*unstructured.Unstructured) string {
	if len(objs) == 0 {
		return "nothing"
	}
	names := make([]string, len(objs))
	for i, obj := range objs {
		names[i] = strings.ToLower(obj.GetKind()) + " " + obj.GetName()
	}
	return strings.Join(names, " and ")
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// flagValue is the flag's value when it was given, else nil.
func flagValue(set, value bool) *bool {
	if !set {
		return nil
	}
	return &value
}

// ModelLabels are the labels of everything an action makes for a model: managed-by, model,
// revision, action, and the model's own labels.
func ModelLabels(m *model.Model, revision, action string) map[string]string {
	labels := maps.Clone(m.Spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[render.LabelManagedBy] = render.ManagedByValue
	labels[render.LabelModel] = m.KubeName()
	labels[render.LabelRevision] = revision
	labels[render.LabelAction] = action
	return labels
}
