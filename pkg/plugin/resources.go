package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// ResourceFlags are the SDK's two ways to give resources: simple (--cpu, --memory, --gpus:
// request equals limit) or advanced (requests and limits apart), never both.
type ResourceFlags struct {
	CPU, Memory                string
	GPUs                       int
	CPURequest, CPULimit       string
	MemoryRequest, MemoryLimit string
	GPULimit                   int

	simpleSet, advancedSet bool
}

// addFlags binds the flags; what names the thing they size, e.g. "each replica".
func (r *ResourceFlags) addFlags(cmd *cobra.Command, what string) {
	f := cmd.Flags()
	f.StringVar(&r.CPU, "cpu", "", "CPU of "+what+", request and limit (e.g. 1, 500m).")
	f.StringVar(&r.Memory, "memory", "", "Memory of "+what+", request and limit (e.g. 2Gi).")
	f.IntVar(&r.GPUs, "gpus", 0, "GPUs (nvidia.com/gpu) of "+what+".")
	f.StringVar(&r.CPURequest, "cpu-request", "", "CPU request of "+what+" (advanced resources).")
	f.StringVar(&r.CPULimit, "cpu-limit", "", "CPU limit of "+what+" (advanced resources).")
	f.StringVar(&r.MemoryRequest, "memory-request", "", "Memory request of "+what+" (advanced resources).")
	f.StringVar(&r.MemoryLimit, "memory-limit", "", "Memory limit of "+what+" (advanced resources).")
	f.IntVar(&r.GPULimit, "gpu-limit", 0, "GPU limit of "+what+" (advanced resources).")
}

// complete notes which kind of flags were given.
func (r *ResourceFlags) complete(cmd *cobra.Command) {
	fs := cmd.Flags()
	r.simpleSet = fs.Changed("cpu") || fs.Changed("memory") || fs.Changed("gpus")
	r.advancedSet = fs.Changed("cpu-request") || fs.Changed("cpu-limit") || fs.Changed("memory-request") || fs.Changed("memory-limit") || fs.Changed("gpu-limit")
}

// validate refuses both kinds at once, negative GPUs and malformed quantities.
func (r *ResourceFlags) validate() error {
	if r.simpleSet && r.advancedSet {
		return sdkerr.New(sdkerr.Usage, "--cpu, --memory and --gpus cannot be combined with --cpu-request, --cpu-limit, --memory-request, --memory-limit or --gpu-limit; use one kind")
	}
	if r.GPUs < 0 || r.GPULimit < 0 {
		return sdkerr.New(sdkerr.Usage, "--gpus and --gpu-limit must be 0 or more")
	}
	for _, q := range []struct{ flag, v string }{
		{"--cpu", r.CPU}, {"--memory", r.Memory}, {"--cpu-request", r.CPURequest}, {"--cpu-limit", r.CPULimit},
		{"--memory-request", r.MemoryRequest}, {"--memory-limit", r.MemoryLimit},
	} {
		if q.v == "" {
			continue
		}
		if _, err := resource.ParseQuantity(q.v); err != nil {
			return sdkerr.New(sdkerr.Usage, "%s %q is not a resource quantity such as 500m, 2 or 4Gi", q.flag, q.v)
		}
	}
	return nil
}

// resources returns the requests and limits the flags give.
func (r *ResourceFlags) resources() workload.Resources {
	if r.simpleSet {
		return workload.Resources{CPURequest: r.CPU, CPULimit: r.CPU, MemoryRequest: r.Memory, MemoryLimit: r.Memory, GPULimit: r.GPUs}
	}
	return workload.Resources{CPURequest: r.CPURequest, CPULimit: r.CPULimit, MemoryRequest: r.MemoryRequest, MemoryLimit: r.MemoryLimit, GPULimit: r.GPULimit}
}
