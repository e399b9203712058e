package workload

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// FuzzStatusReaders: every status reader takes any object the API server could return
// without panicking, and says something.
func FuzzStatusReaders(f *testing.F) {
	for _, s := range []string{
		`{"kind":"TFJob","status":{"conditions":[{"type":"Running","status":"True"}],"replicaStatuses":{"Worker":{"active":2}}}}`,
		`{"kind":"InferenceService","status":{"deploymentMode":"Standard","address":{"url":"http://m-predictor.ns.svc"},"conditions":[{"type":"Ready","status":"True"}]},"spec":{"canary":[{"predictor":{"name":"c"},"trafficPercent":30}]}}`,
		`{"kind":"Experiment","status":{"conditions":[{"type":"Succeeded","status":"True"}],"currentOptimalTrial":{"parameterAssignments":[{"name":"lr","value":"0.1"}]}}}`,
		`{"kind":"Job","status":{"conditions":[{"type":"Failed","status":"True","reason":"BackoffLimitExceeded"}]}}`,
		`{"kind":"TrainJob","status":{"conditions":[{"type":"Complete","status":"True"}],"jobsStatus":[{"name":"node","active":1}]}}`,
		`{"status":{"conditions":"x","canaryStatuses":[1,"a",{}]},"spec":{"canary":[null]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(_ *testing.T, data []byte) {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			if u.Object == nil {
				return
			}
		}
		if u.Object == nil {
			return
		}
		_ = StateOf(u).String()
		_ = ServiceStateOf(u).String()
		_ = ExperimentStateOf(u).String()
		_ = BuildStateOf(u).String()
		_ = CanaryShare(u)
		_, _ = ModeOf(u)
		_ = PredictorName(u)
		_, _ = DeployedURIs(u)
	})
}
