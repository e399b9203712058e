// Package local runs a model's code on this machine the way a training job's containers run
// it: the main file in a copy of the image's files, with the job's arguments and environment,
// one process per replica; and tunes it with trials run as such processes.
package local

import (
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Plan is what a local run of the main file needs, beyond its files.
type Plan struct {
	// Framework is the model's framework: it decides the variables that tell each process its
	// place among the replicas.
	Framework string
	// Python is the interpreter (a path, or a name looked up on PATH).
	Python string
	// MainFile is the main file, relative to the working directory.
	MainFile string
	// Args are the main file's arguments: the hyperparameters and --arg values as --name=value.
	Args []string
	// Env is the job's environment (TRAINED_MODEL_UPLOAD_PATH, MODEL_LIFECYCLE_PHASE, the S3
	// credentials), set in every process over this machine's.
	Env map[string]string
	// Workers is the number of replicas, each a process.
	Workers int
	// Ports are free loopback ports, as many as Ports(Framework, Workers) asks for.
	Ports []int
}

// Process is one replica's process: its name in prefixed output, command line and the
// variables set over this machine's environment.
type Process struct {
	Name string
	Argv []string
	Env  map[string]string
}

// Loopback is the address the replicas reach one another on.
const Loopback = "127.0.0.1"

// emulated says, per framework, what a local run gives each replica's process in place of
// the cluster's replicas.
var emulated = map[string]string{
	"pytorch":    "RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT and the rest torchrun gives each node's process",
	"tensorflow": "TF_CONFIG, as a TFJob gives its Workers",
	"jax":        "JAX_PROCESS_ID, JAX_NUM_PROCESSES and JAX_COORDINATOR_ADDRESS, as Trainer's JAX runtime gives them",
	"xgboost":    "DMLC_TASK_ID, DMLC_NUM_WORKER, DMLC_TRACKER_URI and DMLC_TRACKER_PORT, as Trainer's XGBoost runtime gives them",
	"mlx":        "no MPI variables: mpirun, which starts an MPI runtime's ranks, is not run here",
}

// Emulated says, per framework, what a local run gives each replica's process.
func Emulated() map[string]string { return maps.Clone(emulated) }

// MaxWorkers is the most replicas a local run of the framework starts: one for mlx (MPI),
// else unbounded (0).
func MaxWorkers(framework string) int {
	if framework == "mlx" {
		return 1
	}
	return 0
}

// Ports is how many free loopback ports the replicas need: one for the coordinator (torch's
// master, JAX's coordinator, XGBoost's tracker), one per worker for TensorFlow, none for one
// replica of a framework that needs no coordinator alone.
func Ports(framework string, workers int) int {
	switch framework {
	case "tensorflow":
		return workers
	case "pytorch", "jax", "xgboost":
		return 1
	}
	return 0
}

// FreePorts returns n loopback ports that were free a moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(Loopback, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Processes renders the replicas' processes: each runs python -u MAINFILE ARGS (the image's
// entrypoint, unbuffered so that its lines arrive as printed) with PYTHONUNBUFFERED=1, the
// plan's environment and the framework's variables for its rank. It is pure.
func Processes(p Plan) ([]Process, error) {
	if p.Workers < 1 {
		return nil, fmt.Errorf("workers must be 1 or more, got %d", p.Workers)
	}
	if most := MaxWorkers(p.Framework); most > 0 && p.Workers > most {
		return nil, fmt.Errorf("a local run of a %s model starts %d process; its replicas run under mpirun in the cluster", p.Framework, most)
	}
	if n := Ports(p.Framework, p.Workers); len(p.Ports) < n {
		return nil, fmt.Errorf("%d ports for %d replicas of a %s model, want %d", len(p.Ports), p.Workers, p.Framework, n)
	}
	argv := append([]string{p.Python, "-u", p.MainFile}, p.Args...)
	var tfWorkers []string
	if p.Framework == "tensorflow" {
		for _, port := range p.Ports[:p.Workers] {
			tfWorkers = append(tfWorkers, net.JoinHostPort(Loopback, strconv.Itoa(port)))
		}
	}
	procs := make([]Process, p.Workers)
	for rank := range p.Workers {
		env := maps.Clone(p.Env)
		if env == nil {
			env = map[string]string{}
		}
		env["PYTHONUNBUFFERED"] = "1"
		r, n := strconv.Itoa(rank), strconv.Itoa(p.Workers)
		switch p.Framework {
		case "pytorch":
			port := strconv.Itoa(p.Ports[0])
			for k, v := range map[string]string{
				"MASTER_ADDR": Loopback, "MASTER_PORT": port, "WORLD_SIZE": n, "RANK": r, "GROUP_RANK": r,
				"LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
				"PET_NNODES": n, "PET_NODE_RANK": r, "PET_NPROC_PER_NODE": "1", "PET_MASTER_ADDR": Loopback, "PET_MASTER_PORT": port,
			} {
				env[k] = v
			}
		case "tensorflow":
			tfConfig, err := json.Marshal(map[string]any{
				"cluster": map[string]any{"worker": tfWorkers},
				"task":    map[string]any{"type": "worker", "index": rank},
			})
			if err != nil {
				return nil, err
			}
			env["TF_CONFIG"] = string(tfConfig)
		case "jax":
			env["JAX_NUM_PROCESSES"], env["JAX_PROCESS_ID"] = n, r
			env["JAX_COORDINATOR_ADDRESS"] = net.JoinHostPort(Loopback, strconv.Itoa(p.Ports[0]))
		case "xgboost":
			env["DMLC_TRACKER_URI"], env["DMLC_TRACKER_PORT"] = Loopback, strconv.Itoa(p.Ports[0])
			env["DMLC_TASK_ID"], env["DMLC_NUM_WORKER"] = r, n
		}
		procs[rank] = Process{Name: "worker-" + r, Argv: slices.Clone(argv), Env: env}
	}
	return procs, nil
}

// Environ is base (KEY=VALUE entries, as os.Environ gives them) with env set over it, sorted.
func Environ(base []string, env map[string]string) []string {
	merged := map[string]string{}
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok {
			merged[k] = v
		}
	}
	maps.Copy(merged, env)
	out := make([]string, 0, len(merged))
	for _, k := range slices.Sorted(maps.Keys(merged)) {
		out = append(out, k+"="+merged[k])
	}
	return out
}
