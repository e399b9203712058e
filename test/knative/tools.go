//go:build tools

// Package tools pins the upstream Knative Serving commands the local cluster builds from this
// module (hack/operators.sh): the webhook and the autoscaler, with the same dependency
// versions as knative-controller.
package tools

import (
	_ "knative.dev/serving/cmd/autoscaler"
	_ "knative.dev/serving/cmd/webhook"
)
