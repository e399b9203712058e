package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

// InitOptions writes a commented kaptain.yaml.
type InitOptions struct {
	deps *Deps

	Filename         string
	ID               string
	Name             string
	Framework        string
	FrameworkVersion string
	Image            string
	BaseImage        string
	MainFile         string
	Force            bool

	scaffold model.ScaffoldOptions
}

// NewCmdInit returns kubectl kaptain init.
func NewCmdInit(d *Deps) *cobra.Command {
	o := &InitOptions{deps: d, Filename: "kaptain.yaml", Framework: "tensorflow", MainFile: "trainer.py"}
	cmd := &cobra.Command{
		Use:   "init [--id ID] [--framework tensorflow|pytorch|jax|xgboost|mlx|...] [--image IMAGE]",
		Short: "Write a commented kaptain.yaml describing a model",
		Long: `Write a kaptain.yaml with every field of a model, commented, ready to edit, and a
starter main file beside it when there is none: a toy trainer that needs only Python's
standard library, so that 'train --local' and 'tune --local' run at once.

kaptain.yaml is refused if it exists, unless --force is given; an existing main file is kept.`,
		Example: `  # A TensorFlow model in the current directory
  kubectl kaptain init --id dev/mnist --image registry.example.com/kaptain/mnist:0.0.1

  # A PyTorch model, written to another file
  kubectl kaptain init -f models/mnist.yaml --framework pytorch --id dev/mnist-pytorch`,
		Args: cobra.NoArgs,
		RunE: runWith(d, o),
	}
	f := cmd.Flags()
	f.StringVarP(&o.Filename, "filename", "f", o.Filename, "File to write.")
	f.StringVar(&o.ID, "id", "dev/my-model", "Unique model id, e.g. dev/mnist.")
	f.StringVar(&o.Name, "name", "", "Short model name (default: the last part of the id).")
	f.StringVar(&o.Framework, "framework", o.Framework, "Framework: "+strings.Join(model.Frameworks(), ", ")+".")
	f.StringVar(&o.FrameworkVersion, "framework-version", "", "Framework version (default: a current one for the frameworks train supports).")
	f.StringVar(&o.Image, "image", "", "Image to push the model to (default: registry.example.com/kaptain/<name>:0.0.1).")
	f.StringVar(&o.BaseImage, "base-image", "", "Base image (default: the framework's official image).")
	f.StringVar(&o.MainFile, "main-file", o.MainFile, "Main Python file of the model.")
	f.BoolVar(&o.Force, "force", false, "Overwrite an existing file.")
	return cmd
}

// Complete fills in defaults derived from the id and framework.
func (o *InitOptions) Complete(cmdutil.Factory, *cobra.Command, []string) error {
	o.scaffold = model.ScaffoldOptions{ID: o.ID, Name: o.Name, Framework: o.Framework, FrameworkVersion: o.FrameworkVersion,
		Image: o.Image, BaseImage: o.BaseImage, MainFile: o.MainFile}
	o.scaffold.Default()
	return nil
}

// Validate checks the flags; the written file must load.
func (o *InitOptions) Validate() error {
	if !slices.Contains(model.Frameworks(), o.Framework) {
		return sdkerr.New(sdkerr.Usage, "--framework %q is not supported; use one of: %s", o.Framework, strings.Join(model.Frameworks(), ", "))
	}
	if err := model.ValidateID(o.ID); err != nil {
		return sdkerr.Wrap(sdkerr.Usage, err, "--id")
	}
	if _, err := o.render(); err != nil {
		return err
	}
	return nil
}

// Run writes the file, refusing to overwrite without --force.
func (o *InitOptions) Run(context.Context) error {
	data, err := o.render()
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if o.Force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(o.Filename, flags, 0o644)
	if errors.Is(err, os.ErrExist) {
		return sdkerr.New(sdkerr.Usage, "%s already exists; pass --force to overwrite it", o.Filename)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", o.Filename, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", o.Filename, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", o.Filename, err)
	}
	wrote := o.Filename
	trainer, err := o.writeTrainer()
	if err != nil {
		return err
	}
	if trainer != "" {
		wrote += " and " + trainer
	}
	progress := o.deps.progress()
	progress.Printf("wrote %s for model %s; next:", wrote, o.ID)
	file := ""
	if o.Filename != "kaptain.yaml" {
		file = " -f " + o.Filename
	}
	for _, next := range []string{
		"kubectl kaptain train --local" + file + " -p lr=0.1        # run " + o.MainFile + " here, as the job would",
		"kubectl kaptain tune --local" + file + " --param lr=double:0.01:0.5 --objective accuracy --trials 6",
		"kubectl kaptain train" + file + " --build                  # build the image, then train on the cluster",
	} {
		progress.Printf("  %s", next)
	}
	return nil
}

// writeTrainer writes the starter main file beside kaptain.yaml unless one is there; it
// returns its path, "" when it kept the existing one.
func (o *InitOptions) writeTrainer() (string, error) {
	path := filepath.Join(filepath.Dir(o.Filename), filepath.FromSlash(o.MainFile))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(model.StarterTrainer()); err != nil {
		f.Close()
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// render writes the scaffold and checks that the result loads.
func (o *InitOptions) render() ([]byte, error) {
	data, err := model.Scaffold(o.scaffold)
	if err != nil {
		return nil, err
	}
	if _, err := model.Parse(o.Filename, data); err != nil {
		return nil, sdkerr.Wrap(sdkerr.Usage, err, "the flags give an invalid kaptain.yaml")
	}
	return data, nil
}
