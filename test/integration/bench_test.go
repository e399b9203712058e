//go:build integration

package integration

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// BenchmarkGetJobs5000 lists 5,000 TFJobs with 'kubectl kaptain get jobs' and with
// 'kubectl get tfjobs' (same label selector), alternating, and reports each one's median wall
// time and peak memory. Run it with 'make bench-list'.
func BenchmarkGetJobs5000(b *testing.B) {
	// KAPTAIN_BENCH_KUBECTL picks another kubectl as the peer, e.g. one built from the same
	// Kubernetes release as the plugin's libraries.
	kubectl, err := exec.LookPath(cmp.Or(os.Getenv("KAPTAIN_BENCH_KUBECTL"), "kubectl"))
	if err != nil {
		b.Skip("kubectl is not on PATH")
	}
	ns := fmt.Sprintf("bench-%d", time.Now().UnixNano()%100000)
	if _, err := shared.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	cfg := rest.CopyConfig(shared.config)
	cfg.QPS, cfg.Burst = 2000, 4000
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	const n = 5000
	began := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				job := managed(tfJob(ns, fmt.Sprintf("job-%05d", i), int64(2)))
				if _, err := client.Resource(tfJobs).Namespace(ns).Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	b.Logf("created %d TFJobs in %s", n, time.Since(began).Round(time.Second))

	// Each command's own peak memory is GNU time's %M (the maximum resident set size of the
	// process it runs, in KiB): the rusage of a child of this Go process would include this
	// process's memory from before the exec (Go starts children with CLONE_VM), the same for
	// both commands. time's wall-clock overhead (a fork and an exec) is in both samples.
	const gnuTime = "/usr/bin/time"
	if _, err := os.Stat(gnuTime); err != nil {
		b.Fatalf("%s is needed to measure peak memory (Debian: apt-get install time): %v", gnuTime, err)
	}
	peakFile := filepath.Join(b.TempDir(), "peak")
	type sample struct{ wall, rss []float64 }
	run := func(s *sample, name string, args ...string) {
		cmd := exec.Command(gnuTime, append([]string{"-f", "%M", "-o", peakFile, name}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+shared.home)
		start := time.Now()
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%s %v: %v", name, args, err)
		}
		s.wall = append(s.wall, time.Since(start).Seconds())
		peak, err := os.ReadFile(peakFile)
		if err != nil {
			b.Fatal(err)
		}
		kib, err := strconv.ParseFloat(strings.TrimSpace(string(peak)), 64)
		if err != nil {
			b.Fatalf("%s: peak memory %q: %v", gnuTime, peak, err)
		}
		s.rss = append(s.rss, kib/1024)
		if lines := countLines(out); lines < n+1 {
			b.Fatalf("%s listed %d lines, want %d", name, lines, n+1)
		}
	}
	var kaptainS, kubectlS, kubectlBoth sample
	selector := "app.kubernetes.io/managed-by=kubectl-kaptain"
	rounds := max(b.N, 5)
	b.ResetTimer()
	for range rounds {
		run(&kaptainS, shared.binary, "--kubeconfig", shared.kubeconfig, "get", "jobs", "-n", ns)
		run(&kubectlS, kubectl, "--kubeconfig", shared.kubeconfig, "get", "tfjobs", "-l", selector, "-n", ns)
		run(&kubectlBoth, kubectl, "--kubeconfig", shared.kubeconfig, "get", "tfjobs,pytorchjobs", "-l", selector, "-n", ns)
	}
	b.StopTimer()
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(kaptainS.wall), "kaptain-s")
	b.ReportMetric(med(kubectlS.wall), "kubectl-s")
	b.ReportMetric(med(kaptainS.wall)/med(kubectlS.wall), "wall-ratio")
	b.ReportMetric(med(kaptainS.rss), "kaptain-MiB")
	b.ReportMetric(med(kubectlS.rss), "kubectl-MiB")
	b.ReportMetric(med(kaptainS.rss)/med(kubectlS.rss), "mem-ratio")
	b.Logf("%d rounds: kaptain get jobs %.3fs %.1f MiB; kubectl get tfjobs %.3fs %.1f MiB; kubectl get tfjobs,pytorchjobs %.3fs %.1f MiB (medians)", rounds,
		med(kaptainS.wall), med(kaptainS.rss), med(kubectlS.wall), med(kubectlS.rss), med(kubectlBoth.wall), med(kubectlBoth.rss))
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
