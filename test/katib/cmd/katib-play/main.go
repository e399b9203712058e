// Command katib-play plays, on loopback, the parts of Katib that run as pods on a real
// cluster and that the local Kubeflow's simulated pods cannot run:
//
//   - the suggestion service: Katib's own goptuna service (random, tpe, cmaes, sobol), one
//     instance per Experiment as one suggestion pod each would be, behind one gRPC server;
//
//   - the names the Katib controller dials: every Suggestion's "<name>-<algorithm>.<namespace>"
//     and the db-manager's Service name are kept in a hosts file that the controller, and only
//     the controller, sees as /etc/hosts (localcluster bind-mounts it in a private mount
//     namespace);
//
//   - the metrics collector: once a trial's pod exists, what the trial "printed" is reported to
//     the db-manager (ReportObservationLog), computed from the trial's own assignments by
//     Score, so a better assignment really scores better and the best trial is known in advance.
//     A trial whose pods go to the real node (nodeSelector kaptain.dev/node=real) runs its code
//     and Katib's own collector there, which reports what the code printed: it is left alone.
//
//     katib-play --kubeconfig FILE --hosts FILE --listen 127.0.0.1:6789 --db-manager 127.0.0.1:PORT
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	apis "github.com/kubeflow/katib/pkg/apis/controller"
	commonv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/common/v1beta1"
	experimentsv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/experiments/v1beta1"
	suggestionsv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/suggestions/v1beta1"
	trialsv1beta1 "github.com/kubeflow/katib/pkg/apis/controller/trials/v1beta1"
	health "github.com/kubeflow/katib/pkg/apis/manager/health"
	managerv1beta1 "github.com/kubeflow/katib/pkg/apis/manager/v1beta1"
	"github.com/kubeflow/katib/pkg/controller.v1beta1/util"
	goptuna "github.com/kubeflow/katib/pkg/suggestion/v1beta1/goptuna"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "katib-play:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeconfig := flag.String("kubeconfig", "", "the cluster's kubeconfig")
	hosts := flag.String("hosts", "", "the hosts file to keep (the controller's /etc/hosts)")
	listen := flag.String("listen", "127.0.0.1:6789", "where the suggestion service listens")
	dbManager := flag.String("db-manager", "", "the db-manager's address")
	dbManagerName := flag.String("db-manager-name", "katib-db-manager.kubeflow", "the name the controller dials the db-manager by")
	flag.Parse()
	if *kubeconfig == "" || *hosts == "" || *dbManager == "" {
		return errors.New("--kubeconfig, --hosts and --db-manager are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := apis.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(*dbManager, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	s := &suggestions{services: map[string]*goptuna.SuggestionService{}}
	srv := grpc.NewServer()
	managerv1beta1.RegisterSuggestionServer(srv, s)
	health.RegisterHealthServer(srv, serving{})
	go func() { <-ctx.Done(); srv.Stop() }()
	go func() { _ = srv.Serve(l) }()

	base, err := os.ReadFile("/etc/hosts")
	if err != nil {
		return err
	}
	p := &player{client: c, db: managerv1beta1.NewDBManagerClient(conn), suggestions: s, hostsFile: *hosts,
		hostsBase: string(base) + "\n# katib-play\n127.0.0.1 " + *dbManagerName + "\n", reported: map[types.UID]bool{}}
	if err := p.writeHosts(nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "katib-play: suggestion service on %s, db-manager at %s\n", *listen, *dbManager)
	for {
		if err := p.syncSuggestions(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "katib-play: suggestions:", err)
		}
		if err := p.collectMetrics(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "katib-play: metrics:", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// suggestions is the Suggestion gRPC API of one goptuna service per Experiment.
type suggestions struct {
	managerv1beta1.UnimplementedSuggestionServer
	mu       sync.Mutex
	services map[string]*goptuna.SuggestionService
}

func (s *suggestions) service(experiment string) *goptuna.SuggestionService {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, ok := s.services[experiment]
	if !ok {
		svc = goptuna.NewSuggestionService()
		s.services[experiment] = svc
	}
	return svc
}

// keep drops the services of Experiments no longer served.
func (s *suggestions) keep(experiments map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range s.services {
		if !experiments[name] {
			delete(s.services, name)
		}
	}
}

func (s *suggestions) GetSuggestions(ctx context.Context, req *managerv1beta1.GetSuggestionsRequest) (*managerv1beta1.GetSuggestionsReply, error) {
	reply, err := s.service(req.GetExperiment().GetName()).GetSuggestions(ctx, req)
	fmt.Fprintf(os.Stderr, "katib-play: GetSuggestions %s (%d trials so far, %d asked): %v\n",
		req.GetExperiment().GetName(), len(req.GetTrials()), req.GetCurrentRequestNumber(), err)
	return reply, err
}

func (s *suggestions) ValidateAlgorithmSettings(ctx context.Context, req *managerv1beta1.ValidateAlgorithmSettingsRequest) (*managerv1beta1.ValidateAlgorithmSettingsReply, error) {
	return s.service(req.GetExperiment().GetName()).ValidateAlgorithmSettings(ctx, req)
}

type serving struct{}

func (serving) Check(context.Context, *health.HealthCheckRequest) (*health.HealthCheckResponse, error) {
	return &health.HealthCheckResponse{Status: health.HealthCheckResponse_SERVING}, nil
}

// player keeps the hosts file and reports the trials' metrics.
type player struct {
	client      client.Client
	db          managerv1beta1.DBManagerClient
	suggestions *suggestions
	hostsFile   string
	hostsBase   string
	written     string
	reported    map[types.UID]bool
}

// syncSuggestions points every Suggestion's service name at the suggestion service.
func (p *player) syncSuggestions(ctx context.Context) error {
	var list suggestionsv1beta1.SuggestionList
	if err := p.client.List(ctx, &list); err != nil {
		return err
	}
	var names []string
	live := map[string]bool{}
	for i := range list.Items {
		s := &list.Items[i]
		names = append(names, util.GetSuggestionServiceName(s)+"."+s.Namespace)
		live[s.Name] = true
	}
	p.suggestions.keep(live)
	return p.writeHosts(names)
}

// writeHosts rewrites the file in place (the bind mount follows the inode) when it changes.
func (p *player) writeHosts(names []string) error {
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(p.hostsBase)
	for _, n := range names {
		fmt.Fprintf(&b, "127.0.0.1 %s\n", n)
	}
	if b.String() == p.written {
		return nil
	}
	f, err := os.OpenFile(p.hostsFile, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(b.String()), 0); err != nil {
		return err
	}
	if err := f.Truncate(int64(b.Len())); err != nil {
		return err
	}
	p.written = b.String()
	return nil
}

// jobLabels are the labels that name the job of a trial's pods: the Training Operator's, and
// JobSet's for a TrainJob (Katib names the job after the trial).
var jobLabels = []string{"training.kubeflow.org/job-name", "jobset.sigs.k8s.io/jobset-name"}

// collectMetrics reports the metrics of every trial whose pods have started.
func (p *player) collectMetrics(ctx context.Context) error {
	var trials trialsv1beta1.TrialList
	if err := p.client.List(ctx, &trials); err != nil {
		return err
	}
	for i := range trials.Items {
		t := &trials.Items[i]
		if p.reported[t.UID] || t.IsCompleted() {
			continue
		}
		started, onRealNode, err := p.hasPods(ctx, t)
		if err != nil || !started || onRealNode {
			continue
		}
		var exp experimentsv1beta1.Experiment
		name := t.Labels["katib.kubeflow.org/experiment"]
		if err := p.client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: name}, &exp); err != nil {
			return fmt.Errorf("experiment of trial %s/%s: %w", t.Namespace, t.Name, err)
		}
		values := Metrics(exp.Spec.Parameters, t.Spec.Objective, t.Spec.ParameterAssignments)
		now := time.Now().UTC().Format(time.RFC3339Nano)
		var logs []*managerv1beta1.MetricLog
		for _, m := range values {
			logs = append(logs, &managerv1beta1.MetricLog{TimeStamp: now, Metric: &managerv1beta1.Metric{Name: m.Name, Value: m.Value}})
		}
		if _, err := p.db.ReportObservationLog(ctx, &managerv1beta1.ReportObservationLogRequest{TrialName: t.Name, ObservationLog: &managerv1beta1.ObservationLog{MetricLogs: logs}}); err != nil {
			return fmt.Errorf("reporting trial %s/%s: %w", t.Namespace, t.Name, err)
		}
		p.reported[t.UID] = true
		fmt.Fprintf(os.Stderr, "katib-play: trial %s/%s %v: %v\n", t.Namespace, t.Name, t.Spec.ParameterAssignments, values)
	}
	return nil
}

// realNode is the node selector of the local cluster's real node, whose pods run their code
// and Katib's own metrics collector: katib-play reports nothing for them.
var realNode = [2]string{"kaptain.dev/node", "real"}

// hasPods reports whether a trial's pods exist, and whether they are sent to the real node.
func (p *player) hasPods(ctx context.Context, t *trialsv1beta1.Trial) (started, onRealNode bool, err error) {
	for _, label := range jobLabels {
		var pods corev1.PodList
		if err := p.client.List(ctx, &pods, client.InNamespace(t.Namespace), client.MatchingLabels{label: t.Name}); err != nil {
			return false, false, err
		}
		for _, pod := range pods.Items {
			if pod.Spec.NodeSelector[realNode[0]] == realNode[1] {
				return true, true, nil
			}
		}
		if len(pods.Items) > 0 {
			return true, false, nil
		}
	}
	return false, false, nil
}

// Metric is one reported metric.
type Metric struct{ Name, Value string }

// Metrics are what a trial with these assignments prints: the objective is Score (1 − Score
// when minimised), every additional metric its complement.
func Metrics(params []experimentsv1beta1.ParameterSpec, objective *commonv1beta1.ObjectiveSpec, assignments []commonv1beta1.ParameterAssignment) []Metric {
	score := Score(params, assignments)
	if objective.Type == commonv1beta1.ObjectiveTypeMinimize {
		score = 1 - score
	}
	out := []Metric{{objective.ObjectiveMetricName, strconv.FormatFloat(score, 'f', 6, 64)}}
	for _, name := range objective.AdditionalMetricNames {
		out = append(out, Metric{name, strconv.FormatFloat(1-score, 'f', 6, 64)})
	}
	return out
}

// Score is the mean of each assignment's position in its feasible space, from 0 (min, or the
// list's first value) to 1 (max, or its last): the higher, the better the trial.
func Score(params []experimentsv1beta1.ParameterSpec, assignments []commonv1beta1.ParameterAssignment) float64 {
	var sum float64
	n := 0
	for _, a := range assignments {
		i := slices.IndexFunc(params, func(p experimentsv1beta1.ParameterSpec) bool { return p.Name == a.Name })
		if i < 0 {
			continue
		}
		space := params[i].FeasibleSpace
		n++
		if len(space.List) > 0 {
			if len(space.List) > 1 {
				sum += float64(max(0, slices.Index(space.List, a.Value))) / float64(len(space.List)-1)
			}
			continue
		}
		v, err1 := strconv.ParseFloat(a.Value, 64)
		lo, err2 := strconv.ParseFloat(space.Min, 64)
		hi, err3 := strconv.ParseFloat(space.Max, 64)
		if err1 == nil && err2 == nil && err3 == nil && hi > lo {
			sum += min(1, max(0, (v-lo)/(hi-lo)))
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}
