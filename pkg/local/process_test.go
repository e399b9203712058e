package local

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestProcesses(t *testing.T) {
	base := func(framework string, workers int, ports ...int) Plan {
		return Plan{Framework: framework, Python: "/usr/bin/python3", MainFile: "trainer.py", Args: []string{"--lr=0.1"},
			Env: map[string]string{"TRAINED_MODEL_UPLOAD_PATH": "/tmp/m", "MODEL_LIFECYCLE_PHASE": "training"}, Workers: workers, Ports: ports}
	}
	for _, tc := range []struct {
		name string
		plan Plan
		// want holds, per process, variables that must be set as given.
		want []map[string]string
	}{
		{"pytorch, two nodes", base("pytorch", 2, 29500), []map[string]string{
			{"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "PET_NODE_RANK": "0", "PET_NNODES": "2"},
			{"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "PET_NODE_RANK": "1", "GROUP_RANK": "1"},
		}},
		{"jax", base("jax", 2, 1234), []map[string]string{
			{"JAX_PROCESS_ID": "0", "JAX_NUM_PROCESSES": "2", "JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234"},
			{"JAX_PROCESS_ID": "1", "JAX_NUM_PROCESSES": "2", "JAX_COORDINATOR_ADDRESS": "127.0.0.1:1234"},
		}},
		{"xgboost", base("xgboost", 2, 9091), []map[string]string{
			{"DMLC_TASK_ID": "0", "DMLC_NUM_WORKER": "2", "DMLC_TRACKER_URI": "127.0.0.1", "DMLC_TRACKER_PORT": "9091"},
			{"DMLC_TASK_ID": "1", "DMLC_NUM_WORKER": "2", "DMLC_TRACKER_URI": "127.0.0.1", "DMLC_TRACKER_PORT": "9091"},
		}},
		{"mlx alone", base("mlx", 1), []map[string]string{{"MODEL_LIFECYCLE_PHASE": "training"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			procs, err := Processes(tc.plan)
			if err != nil {
				t.Fatal(err)
			}
			if len(procs) != len(tc.want) {
				t.Fatalf("%d processes, want %d", len(procs), len(tc.want))
			}
			for i, p := range procs {
				if want := "worker-" + string(rune('0'+i)); p.Name != want {
					t.Errorf("process %d is named %q, want %q", i, p.Name, want)
				}
				if want := []string{"/usr/bin/python3", "-u", "trainer.py", "--lr=0.1"}; !slices.Equal(p.Argv, want) {
					t.Errorf("argv %q, want %q", p.Argv, want)
				}
				for k, v := range tc.want[i] {
					if p.Env[k] != v {
						t.Errorf("%s: %s=%q, want %q", p.Name, k, p.Env[k], v)
					}
				}
				if p.Env["PYTHONUNBUFFERED"] != "1" || p.Env["TRAINED_MODEL_UPLOAD_PATH"] != "/tmp/m" {
					t.Errorf("%s: the job's environment is missing: %v", p.Name, p.Env)
				}
			}
		})
	}
}

func TestProcessesTFConfig(t *testing.T) {
	procs, err := Processes(Plan{Framework: "tensorflow", Python: "python3", MainFile: "m.py", Workers: 3, Ports: []int{2001, 2002, 2003}})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range procs {
		var cfg struct {
			Cluster struct{ Worker []string }
			Task    struct {
				Type  string
				Index int
			}
		}
		if err := json.Unmarshal([]byte(p.Env["TF_CONFIG"]), &cfg); err != nil {
			t.Fatalf("TF_CONFIG %q: %v", p.Env["TF_CONFIG"], err)
		}
		if want := []string{"127.0.0.1:2001", "127.0.0.1:2002", "127.0.0.1:2003"}; !reflect.DeepEqual(cfg.Cluster.Worker, want) {
			t.Errorf("workers %q, want %q", cfg.Cluster.Worker, want)
		}
		if cfg.Task.Type != "worker" || cfg.Task.Index != i {
			t.Errorf("task %+v, want worker %d", cfg.Task, i)
		}
	}
}

func TestProcessesRefused(t *testing.T) {
	for _, tc := range []struct {
		plan Plan
		want string
	}{
		{Plan{Framework: "pytorch", Workers: 0}, "workers must be 1 or more"},
		{Plan{Framework: "mlx", Workers: 2}, "under mpirun in the cluster"},
		{Plan{Framework: "tensorflow", Workers: 2, Ports: []int{1}}, "want 2"},
	} {
		if _, err := Processes(tc.plan); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Processes(%+v) = %v, want an error with %q", tc.plan, err, tc.want)
		}
	}
}

func TestEnviron(t *testing.T) {
	got := Environ([]string{"PATH=/bin", "HOME=/root", "RANK=7"}, map[string]string{"RANK": "0", "A": "x=y"})
	if want := []string{"A=x=y", "HOME=/root", "PATH=/bin", "RANK=0"}; !slices.Equal(got, want) {
		t.Errorf("Environ = %q, want %q", got, want)
	}
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 3 || ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("FreePorts(3) = %v, want three different ports", ports)
	}
}
