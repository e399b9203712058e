// Command gendocs writes the reference of every kubectl kaptain command, generated from the
// commands themselves with cobra's doc package: Markdown into docs/reference (or the directory
// given), and man pages with -man DIR. make docs runs it; make verify-docs checks that the
// committed reference is what the commands say.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/config"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/plugin"
)

func main() {
	man := flag.String("man", "", "also write man pages (section 1) into this directory")
	flag.Parse()
	out := "docs/reference"
	if flag.NArg() > 0 {
		out = flag.Arg(0)
	}
	if err := generate(out, *man); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

// generate writes the Markdown reference into dir and, when man is set, the man pages. The
// commands are built with no environment, so that no setting of this machine's reaches the
// text.
func generate(dir, man string) error {
	// Defaults under the home directory (kubectl's --cache-dir) read as ~.
	if err := os.Setenv("HOME", "~"); err != nil {
		return err
	}
	_ = os.Unsetenv("KUBECACHEDIR")
	configFlags := genericclioptions.NewConfigFlags(true)
	root := plugin.NewCmdKaptain(&plugin.Deps{
		Streams:     genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		ConfigFlags: configFlags,
		Factory:     cmdutil.NewFactory(cmdutil.NewMatchVersionFlags(configFlags)),
		Env:         config.Env{Lookup: func(string) (string, bool) { return "", false }},
	})
	disableAutoGenTag(root)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Files are named by the command's path under kubectl: kubectl_kaptain_train.md.
	name := func(c *cobra.Command) string { return strings.ReplaceAll(c.CommandPath(), " ", "_") }
	if err := writeMarkdown(root, dir, name); err != nil {
		return err
	}
	if man == "" {
		return nil
	}
	if err := os.MkdirAll(man, 0o755); err != nil {
		return err
	}
	return doc.GenManTree(root, &doc.GenManHeader{Title: "KUBECTL-KAPTAIN", Section: "1", Source: "kubectl-kaptain"}, man)
}

// writeMarkdown writes a page per command, its links to the others' pages.
func writeMarkdown(c *cobra.Command, dir string, name func(*cobra.Command) string) error {
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := writeMarkdown(sub, dir, name); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, name(c)+".md"))
	if err != nil {
		return err
	}
	err = doc.GenMarkdownCustom(c, f, func(link string) string { return strings.ReplaceAll(strings.TrimSuffix(link, ".md"), " ", "_") + ".md" })
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func disableAutoGenTag(c *cobra.Command) {
	c.DisableAutoGenTag = true
	for _, sub := range c.Commands() {
		disableAutoGenTag(sub)
	}
}
