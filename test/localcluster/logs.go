package localcluster

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// PodLogs are what the simulated containers of some pods print. kwok serves them on its
// kubelet API, so the plugin's log streams go through the API server's pod log proxy as on a
// real cluster.
type PodLogs struct {
	// Namespaces select the pods; empty selects every pod.
	Namespaces []string
	// Lines are what a container prints.
	Lines []string
	// Previous are what the container's previous instance printed before it exited.
	Previous []string
}

// TrainingOutput is what every simulated container prints unless Options.Logs says
// otherwise: the example model's output for two epochs.
var TrainingOutput = []string{
	"epoch=1", "loss=0.3120", "accuracy=0.9120",
	"epoch=2", "loss=0.1810", "accuracy=0.9460",
	"test-loss=0.1702", "test-accuracy=0.9507",
}

// kwokLogs writes each entry's lines as CRI log files under dir and returns kwok's
// ClusterLogs configuration for them, in order (the first entry that selects a pod gives
// its logs), ending with TrainingOutput for every other pod.
func kwokLogs(dir string, entries []PodLogs) (string, error) {
	entries = append(append([]PodLogs(nil), entries...), PodLogs{Lines: TrainingOutput, Previous: TrainingOutput})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var b strings.Builder
	for i, e := range entries {
		current, previous := filepath.Join(dir, fmt.Sprintf("%d.log", i)), filepath.Join(dir, fmt.Sprintf("%d-previous.log", i))
		if err := writeCRILog(current, e.Lines); err != nil {
			return "", err
		}
		if err := writeCRILog(previous, e.Previous); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata:\n  name: pod-logs-%d\nspec:\n", i)
		if len(e.Namespaces) > 0 {
			fmt.Fprintf(&b, "  selector:\n    matchNamespaces: [%s]\n", quoteAll(e.Namespaces))
		}
		fmt.Fprintf(&b, "  logs:\n  - logsFile: %q\n    previousLogsFile: %q\n    follow: false\n", current, previous)
	}
	return b.String(), nil
}

// writeCRILog writes lines in the container runtime's log format, which kwok reads.
func writeCRILog(name string, lines []string) error {
	var b strings.Builder
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", at.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), l)
	}
	if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing the simulated container log: %w", err)
	}
	return nil
}

func quoteAll(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(quoted, ", ")
}
