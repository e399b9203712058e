// Command local-cluster starts and stops the local Kubeflow cluster of package localcluster.
//
//	local-cluster up --dir DIR --control-plane BIN --operators BIN --postgres BIN [--node DIR] [--crds PATH]...
//	local-cluster down --dir DIR
//
// up runs in the foreground until SIGINT or SIGTERM; once the cluster is ready it writes
// DIR/kubeconfig and DIR/ready, and with --node DIR/node.env (the real node's address on its
// network, its registry and its base image, as shell variables). down signals the process
// recorded in DIR/pid and waits for it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kaptain-dev/kubectl-kaptain/test/localcluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "local-cluster:", err)
		os.Exit(1)
	}
}

type pathList []string

func (p *pathList) String() string     { return strings.Join(*p, ",") }
func (p *pathList) Set(v string) error { *p = append(*p, v); return nil }

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: local-cluster up|down --dir DIR [...]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".cache/local-cluster", "working directory: kubeconfig, logs, pid")
	controlPlane := fs.String("control-plane", "", "directory with etcd, kube-apiserver, kube-scheduler, kube-controller-manager")
	operators := fs.String("operators", "", "directory with kwok and the operators (hack/operators.sh)")
	postgres := fs.String("postgres", "", "directory with PostgreSQL's initdb and postgres (hack/postgres.sh)")
	node := fs.String("node", "", "directory from hack/node.sh: also run a real node (kubelet, containerd, runc)")
	var crds pathList
	fs.Var(&crds, "crds", "further CRD file or directory (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "up":
		return up(*dir, *controlPlane, *operators, *postgres, *node, crds)
	case "down":
		return down(*dir)
	}
	return fmt.Errorf("unknown command %q: use up or down", args[0])
}

func up(dir, controlPlane, operators, postgres, node string, crds []string) error {
	if controlPlane == "" || operators == "" || postgres == "" {
		return errors.New("up needs --control-plane, --operators and --postgres (hack/control-plane.sh, hack/operators.sh, hack/postgres.sh)")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := localcluster.Start(ctx, localcluster.Options{ControlPlane: controlPlane, Operators: operators, Postgres: postgres, Node: node, Dir: dir, ExtraCRDs: crds, Log: os.Stderr})
	if err != nil {
		if c != nil {
			_ = c.Stop()
		}
		return err
	}
	if n := c.Node; n != nil {
		// What a script needs to send work to the real node (hack/demo.sh sources it).
		env := fmt.Sprintf("KAPTAIN_NODE_HOST=%s\nKAPTAIN_NODE_REGISTRY=%s\nKAPTAIN_NODE_BASE_IMAGE=%s\n", n.HostIP, n.Registry, n.BaseImage)
		if err := os.WriteFile(filepath.Join(dir, "node.env"), []byte(env), 0o644); err != nil {
			_ = c.Stop()
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(c.Kubeconfig+"\n"), 0o644); err != nil {
		_ = c.Stop()
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "local-cluster: stopping")
	err = c.Stop()
	_ = os.Remove(filepath.Join(dir, "ready"))
	_ = os.Remove(filepath.Join(dir, "pid"))
	return err
}

func down(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return fmt.Errorf("no cluster running in %s: %w", dir, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping process %d: %w", pid, err)
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
	}
	return fmt.Errorf("process %d still runs after 60s", pid)
}
