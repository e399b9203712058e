package inventory

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
)

// Expired returns the finished jobs whose model.AnnotationTTLSecondsAfterFinished has passed
// at now: a TrainJob has no TTL of its own, so clean honours the one train was given. A job
// ends at the last transition of its Complete or Failed condition.
func (inv *Inventory) Expired(ctx context.Context, served []Served, now time.Time) ([]Object, error) {
	objs, err := inv.List(ctx, served)
	if err != nil {
		return nil, err
	}
	var out []Object
	for _, o := range objs {
		ttl, err := strconv.Atoi(o.Obj.GetAnnotations()[model.AnnotationTTLSecondsAfterFinished])
		if err != nil || ttl < 0 || !o.Finished(o.Obj) {
			continue
		}
		if end, ok := finishedAt(o.Obj); ok && !now.Before(end.Add(time.Duration(ttl)*time.Second)) {
			out = append(out, o)
		}
	}
	return out, nil
}

// finishedAt is when a job's Complete, Succeeded or Failed condition became true.
func finishedAt(obj *unstructured.Unstructured) (time.Time, bool) {
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok || cond["status"] != "True" {
			continue
		}
		switch cond["type"] {
		case "Complete", "Succeeded", "Failed":
			at, err := time.Parse(time.RFC3339, fmt.Sprint(cond["lastTransitionTime"]))
			return at, err == nil
		}
	}
	return time.Time{}, false
}
