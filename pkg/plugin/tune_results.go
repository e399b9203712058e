package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/local"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/term"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/workload"
)

// trialsResource are Katib's Trials.
var trialsResource = schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1beta1", Resource: "trials"}

// printBest prints the result of a tune: the optimal trial's hyperparameters as a table, then
// the trials ranked by the objective, or all of it as yaml or json; the progress line ends
// with what became of the hyperparameters.
func (o *TuneOptions) printBest(st workload.ExperimentState, ranking []workload.TrialResult, modelURI, then string) error {
	out := o.deps.Streams.Out
	if o.output == "yaml" || o.output == "json" {
		data := map[string]any{
			"trial": st.BestTrial, "hyperparameters": st.BestParams, "metrics": st.BestMetrics, "modelUri": modelURI, "revision": o.revision,
			"trials": map[string]any{"total": st.Trials, "succeeded": st.Succeeded, "earlyStopped": st.EarlyStopped, "failed": st.Failed},
		}
		if len(ranking) > 0 {
			data["ranking"] = ranking
		}
		return printData(out, o.output, data)
	}
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "HYPERPARAMETER\tVALUE")
	for _, k := range slices.Sorted(maps.Keys(st.BestParams)) {
		fmt.Fprintf(w, "%s\t%s\n", k, st.BestParams[k])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(ranking) > 0 {
		fmt.Fprintln(out)
		if err := printRanking(out, ranking, o.tune.Objectives[0], o.tune.ObjectiveType, st.BestTrial, term.IsTerminal(out)); err != nil {
			return err
		}
	}
	stopped := ""
	if st.EarlyStopped > 0 {
		stopped = fmt.Sprintf(", %d stopped early", st.EarlyStopped)
	}
	o.deps.progress().Printf("best trial %s: %s, of %d trials (%d succeeded%s, %d failed); %s",
		st.BestTrial, metricsLine(st.BestMetrics), st.Trials, st.Succeeded, stopped, st.Failed, then)
	return nil
}

func metricsLine(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

// clusterRanking reads the experiment's Trials and ranks them; none (with a warning) when they
// cannot be read: the result stands without them.
func (o *TuneOptions) clusterRanking(ctx context.Context, ac actionOptions, experiment string) []workload.TrialResult {
	c, err := ac.session.clients()
	if err == nil {
		list, lerr := c.Dynamic.Resource(trialsResource).Namespace(ac.namespace).List(ctx, metav1.ListOptions{LabelSelector: workload.LabelExperiment + "=" + experiment})
		if lerr == nil {
			ranking := workload.TrialResults(list.Items, o.tune.Objectives[0], o.tune.ObjectiveType)
			workload.RankTrials(ranking, o.tune.ObjectiveType)
			return ranking
		}
		err = lerr
	}
	o.deps.progress().Printf("warning: cannot list the experiment's trials to rank them: %v", err)
	return nil
}

// localRanking ranks a local tune's trials.
func localRanking(exp local.Experiment, metric, objectiveType string) []workload.TrialResult {
	ranking := make([]workload.TrialResult, 0, len(exp.Trials))
	for _, t := range exp.Trials {
		r := workload.TrialResult{Name: t.Name, State: t.State, Params: t.Params}
		r.Objective, r.HasObjective = t.Objective(metric, objectiveType)
		ranking = append(ranking, r)
	}
	workload.RankTrials(ranking, objectiveType)
	return ranking
}

// barWidth is the longest bar of a ranking, in characters.
const barWidth = 24

// printRanking writes ranked trials, best first: the objective, how the trial ended, its
// hyperparameters and a bar from the worst objective (one character) to the best (barWidth),
// the winner marked. Bars are block characters on a terminal, '#' elsewhere.
func printRanking(w io.Writer, ranking []workload.TrialResult, metric, objectiveType, winner string, blocks bool) error {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range ranking {
		if r.HasObjective {
			lo, hi = min(lo, r.Objective), max(hi, r.Objective)
		}
	}
	mark := "#"
	if blocks {
		mark = "█"
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintf(tw, "RANK\tTRIAL\t%s\tSTATE\tHYPERPARAMETERS\t\n", strings.ToUpper(metric))
	for i, r := range ranking {
		value, bar := "-", ""
		if r.HasObjective {
			value = strconv.FormatFloat(r.Objective, 'g', 6, 64)
			frac := 1.0
			if hi > lo {
				frac = (r.Objective - lo) / (hi - lo)
				if objectiveType == "minimize" {
					frac = 1 - frac
				}
			}
			bar = strings.Repeat(mark, 1+int(math.Round(frac*(barWidth-1))))
		}
		if r.Name == winner {
			bar += " best"
		}
		var params []string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			params = append(params, k+"="+r.Params[k])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, r.Name, value, r.State, strings.Join(params, " "), bar)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The bar column's padding is not kept where a row has no bar.
	for line := range strings.Lines(b.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}
