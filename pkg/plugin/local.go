package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/credentials"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/image"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/local"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// Upload destinations of a local run (--upload).
const (
	uploadLocal = "local"
	uploadS3    = "s3"
)

// LocalFlags are the flags of train --local and tune --local: run the model's code on this
// machine instead of the cluster.
type LocalFlags struct {
	Local  bool
	Python string
	Upload string
	Venv   bool

	// refused is the first flag given that a local run has no use for.
	refused string
}

// addFlags binds the flags.
func (l *LocalFlags) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&l.Local, "local", false, "Run the model's code on this machine, not the cluster: the main file in a copy of the files the image would hold, with the same arguments and environment, one process per replica (no image, registry or cluster).")
	f.StringVar(&l.Python, "python", "python3", "With --local: the Python interpreter (a path, or a name on PATH).")
	f.StringVar(&l.Upload, "upload", uploadLocal, "With --local: where TRAINED_MODEL_UPLOAD_PATH points: local (a directory under the user cache), s3 (the model's storage URI, with the S3 credentials a job gets) or a directory.")
	f.BoolVar(&l.Venv, "venv", false, "With --local: run in a virtual environment with spec.requirements installed (made once per requirements file, in the user cache, with python -m venv and pip).")
}

// complete notes the first flag given that a local run has no use for: the command's own
// flags but those allowed (and the local flags).
func (l *LocalFlags) complete(cmd *cobra.Command, allowed ...string) {
	allowed = append(allowed, "local", "python", "upload", "venv", "filename")
	if !l.Local {
		for _, name := range []string{"python", "upload", "venv"} {
			if cmd.Flags().Changed(name) {
				l.refused = name
				return
			}
		}
		return
	}
	own := cmd.LocalFlags()
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if l.refused == "" && own.Lookup(f.Name) != nil && !slices.Contains(allowed, f.Name) {
			l.refused = f.Name
		}
	})
}

// validate refuses the flags complete noted.
func (l *LocalFlags) validate() error {
	switch {
	case l.refused == "":
	case !l.Local:
		return sdkerr.New(sdkerr.Usage, "--%s applies to a local run; add --local", l.refused)
	default:
		return sdkerr.New(sdkerr.Usage, "--%s has no meaning with --local, which runs the code on this machine, not the cluster; drop it", l.refused)
	}
	if l.Local && strings.TrimSpace(l.Python) == "" {
		return sdkerr.New(sdkerr.Usage, "--python must name an interpreter")
	}
	if l.Local && l.Upload == "" {
		return sdkerr.New(sdkerr.Usage, "--upload must be local, s3 or a directory")
	}
	return nil
}

// validateLocalWorkers checks the replicas a local run starts for the framework.
func validateLocalWorkers(workers int, framework string) error {
	if workers < 1 {
		return sdkerr.New(sdkerr.Usage, "--workers must be 1 or more, got %d", workers)
	}
	if n := local.MaxWorkers(framework); n > 0 && workers > n {
		return sdkerr.New(sdkerr.Usage, "--workers %d: a local run of a %s model starts %d process (its replicas run under mpirun in the cluster); use --workers %d", workers, framework, n, n)
	}
	return nil
}

// localCacheDir is the user cache's directory for local runs, $XDG_CACHE_HOME/kubectl-kaptain
// (~/.cache/kubectl-kaptain).
func localCacheDir() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", sdkerr.Wrap(sdkerr.Usage, err, "a local run keeps its models and virtual environments in the user cache; set XDG_CACHE_HOME or HOME")
	}
	return filepath.Join(dir, "kubectl-kaptain"), nil
}

// localRun is what every process of a local run shares: the interpreter, where models go,
// and the storage credentials when they go to S3.
type localRun struct {
	m      *model.Model
	inputs *image.Inputs
	python string
	// uploadBase is the local directory or s3:// URI under which <id>/trained/<revision> and
	// <id>/tuned/<revision>/<trial> are.
	uploadBase string
	// s3 is true when uploadBase is the model's storage URI.
	s3  bool
	env map[string]string
}

// prepare collects the model's files, resolves the interpreter (making the virtual
// environment with --venv) and where the code saves models.
func (l *LocalFlags) prepare(ctx context.Context, d *Deps, m *model.Model) (*localRun, error) {
	progress := d.progress()
	in, err := image.Collect(m)
	if err != nil {
		return nil, sdkerr.Wrap(sdkerr.ModelValidation, err, "")
	}
	for _, w := range in.Warnings() {
		progress.Printf("warning: %s", w)
	}
	r := &localRun{m: m, inputs: in, env: map[string]string{}}
	python, err := exec.LookPath(l.Python)
	if err != nil {
		return nil, sdkerr.New(sdkerr.Usage, "--python %s: %v; install Python 3 or name the interpreter with --python", l.Python, err)
	}
	cache, err := localCacheDir()
	if err != nil {
		return nil, err
	}
	req := ""
	if m.Spec.Requirements != "" {
		req = filepath.Join(cmp.Or(m.Spec.Config.BaseDir, "."), filepath.FromSlash(m.Spec.Requirements))
	}
	switch {
	case l.Venv && req == "":
		return nil, sdkerr.New(sdkerr.Usage, "--venv installs spec.requirements, and %s names none", m.Path)
	case l.Venv:
		if python, err = local.Venv(ctx, cache, python, req, d.Streams.ErrOut); err != nil {
			if ctx.Err() != nil {
				return nil, sdkerr.Wrap(sdkerr.Interrupted, ctx.Err(), "interrupted while making the virtual environment; it is made again next time")
			}
			return nil, sdkerr.Wrap(sdkerr.ImageBuild, err, "")
		}
	case req != "":
		progress.Printf("warning: %s is not installed: the code runs with %s as it is (--venv installs it)", m.Spec.Requirements, python)
	}
	r.python = python
	switch l.Upload {
	case uploadS3:
		secret, err := credentials.ResolveS3Secret(ctx, s3Settings(m, false))
		if err != nil {
			return nil, sdkerr.Wrap(sdkerr.Usage, err, "--upload s3")
		}
		r.env, r.s3 = secret.Data, true
		r.uploadBase = strings.TrimSuffix(m.Spec.Config.ModelStorageURI, "/")
	case uploadLocal:
		r.uploadBase = filepath.Join(cache, "models")
	default:
		if r.uploadBase, err = filepath.Abs(l.Upload); err != nil {
			return nil, sdkerr.Wrap(sdkerr.Usage, err, "--upload")
		}
	}
	return r, nil
}

// uploadPath is TRAINED_MODEL_UPLOAD_PATH for a revision's model (a trial's with tuned and
// the trial's name), made when it is a local directory.
func (r *localRun) uploadPath(rel ...string) (string, error) {
	parts := append([]string{r.m.Spec.ID}, rel...)
	if r.s3 {
		return r.uploadBase + "/" + strings.Join(parts, "/"), nil
	}
	dir := filepath.Join(append([]string{r.uploadBase}, parts...)...)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating the upload directory: %w", err)
	}
	return dir, nil
}

// processes renders the replicas' processes of one run with the hyperparameters and
// arguments, the phase and upload path.
func (r *localRun) processes(workers int, hyper map[string]any, args map[string]string, phase, upload string) ([]local.Process, error) {
	ports, err := local.FreePorts(local.Ports(r.m.Spec.Framework, workers))
	if err != nil {
		return nil, err
	}
	env := map[string]string{workload.EnvTrainedModelUploadPath: upload, workload.EnvModelLifecyclePhase: phase}
	for k, v := range r.env {
		env[k] = v
	}
	return local.Processes(local.Plan{
		Framework: r.m.Spec.Framework, Python: r.python, MainFile: r.inputs.MainFile,
		Args: workload.Arguments(hyper, args), Env: env, Workers: workers, Ports: ports,
	})
}

// workdir copies the image's files into a new temporary directory; remove removes it.
func (r *localRun) workdir() (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", "kaptain-local-")
	if err != nil {
		return "", nil, fmt.Errorf("creating the working directory: %w", err)
	}
	remove = func() { _ = os.RemoveAll(dir) }
	if err := r.inputs.WriteTree(dir); err != nil {
		remove()
		return "", nil, sdkerr.Wrap(sdkerr.ModelValidation, err, "")
	}
	return dir, remove, nil
}

// saved describes what the code saved under a local upload directory: "3 files, 1.2 MB", or
// "nothing".
func saved(dir string) string {
	files, size := 0, int64(0)
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if info, err := e.Info(); err == nil {
				files, size = files+1, size+info.Size()
			}
		}
		return nil
	})
	switch files {
	case 0:
		return "nothing"
	case 1:
		return fmt.Sprintf("1 file, %s", image.HumanBytes(size))
	}
	return fmt.Sprintf("%d files, %s", files, image.HumanBytes(size))
}

// localError maps how a local run ended to the exit code a job's would have: a failed
// process is JobFailed with its last lines, the timeout Timeout, Ctrl-C Interrupted.
func localError(ctx context.Context, err error, what string) error {
	var exit *local.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		return sdkerr.Wrap(sdkerr.JobFailed, err, "%s failed", what)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return sdkerr.Wrap(sdkerr.Timeout, ctx.Err(), "%s did not finish within --timeout; its processes were stopped", what)
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		return sdkerr.Wrap(sdkerr.Interrupted, context.Canceled, "interrupted; the processes of %s were stopped", what)
	}
	return err
}
