package render_test

import (
	"fmt"
	"os"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
)

const job = `apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: mnist
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 2
      template:
        spec:
          containers:
          - name: tensorflow
            image: mnist:1
`

const secret = `apiVersion: v1
kind: Secret
metadata:
  name: mnist-storage
data:
  AWS_SECRET_ACCESS_KEY: c2VjcmV0
stringData:
  AWS_ACCESS_KEY_ID: minio
`

// run reads objects, applies filters and prints the result.
func run(input string, filters ...kio.Filter) {
	err := kio.Pipeline{
		Inputs:  []kio.Reader{&kio.ByteReader{Reader: strings.NewReader(input), OmitReaderAnnotations: true}},
		Filters: filters,
		Outputs: []kio.Writer{kio.ByteWriter{Writer: os.Stdout}},
	}.Execute()
	if err != nil {
		fmt.Println("error:", err)
	}
}

func ExampleNamespace() {
	run(secret, kio.FilterAll(render.Namespace{Namespace: "team-a"}))
	// Output:
	// apiVersion: v1
	// kind: Secret
	// metadata:
	//   name: mnist-storage
	//   namespace: team-a
	// data:
	//   AWS_SECRET_ACCESS_KEY: c2VjcmV0
	// stringData:
	//   AWS_ACCESS_KEY_ID: minio
}

func ExampleLabels() {
	run(job, kio.FilterAll(render.Labels{Labels: map[string]string{"kaptain.dev/model": "mnist"}}))
	// Output:
	// apiVersion: kubeflow.org/v1
	// kind: TFJob
	// metadata:
	//   name: mnist
	//   labels:
	//     kaptain.dev/model: mnist
	// spec:
	//   tfReplicaSpecs:
	//     Worker:
	//       replicas: 2
	//       template:
	//         spec:
	//           containers:
	//           - name: tensorflow
	//             image: mnist:1
	//         metadata:
	//           labels:
	//             kaptain.dev/model: mnist
}

// A template of templates (the Jobs a TrainJob's JobSet makes) is not a pod template: only the
// pods get the labels.
func ExampleLabels_trainJob() {
	run(`apiVersion: trainer.kubeflow.org/v1alpha1
kind: TrainJob
metadata:
  name: mnist
spec:
  runtimePatches:
  - manager: kaptain.dev/kubectl-kaptain
    trainingRuntimeSpec:
      template:
        spec:
          replicatedJobs:
          - name: node
            template:
              spec:
                template:
                  spec: {}
`, kio.FilterAll(render.Labels{Labels: map[string]string{"kaptain.dev/model": "mnist"}}))
	// Output:
	// apiVersion: trainer.kubeflow.org/v1alpha1
	// kind: TrainJob
	// metadata:
	//   name: mnist
	//   labels:
	//     kaptain.dev/model: mnist
	// spec:
	//   runtimePatches:
	//   - manager: kaptain.dev/kubectl-kaptain
	//     trainingRuntimeSpec:
	//       template:
	//         spec:
	//           replicatedJobs:
	//           - name: node
	//             template:
	//               spec:
	//                 template:
	//                   spec: {}
	//                   metadata:
	//                     labels:
	//                       kaptain.dev/model: mnist
	//         metadata:
	//           labels:
	//             kaptain.dev/model: mnist
}

func ExampleAnnotations() {
	run(job, kio.FilterAll(render.Annotations{Annotations: map[string]string{"kaptain.dev/model-id": "dev/mnist"}}))
	// Output:
	// apiVersion: kubeflow.org/v1
	// kind: TFJob
	// metadata:
	//   name: mnist
	//   annotations:
	//     kaptain.dev/model-id: dev/mnist
	// spec:
	//   tfReplicaSpecs:
	//     Worker:
	//       replicas: 2
	//       template:
	//         spec:
	//           containers:
	//           - name: tensorflow
	//             image: mnist:1
}

func ExampleOwnerLinks() {
	run(job+"---\n"+secret, render.OwnerLinks{APIVersion: "kubeflow.org/v1", Kind: "TFJob", Name: "mnist", OwnedKinds: []string{"Secret"}})
	// Output:
	// apiVersion: kubeflow.org/v1
	// kind: TFJob
	// metadata:
	//   name: mnist
	// spec:
	//   tfReplicaSpecs:
	//     Worker:
	//       replicas: 2
	//       template:
	//         spec:
	//           containers:
	//           - name: tensorflow
	//             image: mnist:1
	// ---
	// apiVersion: v1
	// kind: Secret
	// metadata:
	//   name: mnist-storage
	//   annotations:
	//     kaptain.dev/owned-by: kubeflow.org/v1/TFJob/mnist
	// data:
	//   AWS_SECRET_ACCESS_KEY: c2VjcmV0
	// stringData:
	//   AWS_ACCESS_KEY_ID: minio
}

func ExampleRedact() {
	run(secret, kio.FilterAll(render.Redact{}))
	// Output:
	// apiVersion: v1
	// kind: Secret
	// metadata:
	//   name: mnist-storage
	//   annotations:
	//     kaptain.dev/redacted: "true"
	// data:
	//   AWS_SECRET_ACCESS_KEY: PHJlZGFjdGVkPg==
	// stringData:
	//   AWS_ACCESS_KEY_ID: <redacted>
}

// kubectl apply's copy of a Secret, which holds its values in clear text, is redacted too.
func ExampleRedact_lastApplied() {
	run(`apiVersion: v1
kind: Secret
metadata:
  name: mnist-storage
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"AWS_SECRET_ACCESS_KEY":"c2VjcmV0"}}'
data:
  AWS_SECRET_ACCESS_KEY: c2VjcmV0
`, kio.FilterAll(render.Redact{}))
	// Output:
	// apiVersion: v1
	// kind: Secret
	// metadata:
	//   name: mnist-storage
	//   annotations:
	//     kubectl.kubernetes.io/last-applied-configuration: '<redacted>'
	//     kaptain.dev/redacted: "true"
	// data:
	//   AWS_SECRET_ACCESS_KEY: PHJlZGFjdGVkPg==
}

func ExamplePatch_strategicMerge() {
	patch, err := render.ParsePatch("gpu.yaml", []byte(`kind: TFJob
spec:
  tfReplicaSpecs:
    Worker:
      template:
        spec:
          tolerations: [{key: nvidia.com/gpu, operator: Exists}]
          containers:
          - name: tensorflow
            env: [{name: NCCL_DEBUG, value: INFO}]
`), "TFJob")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	run(job, patch)
	// Output:
	// apiVersion: kubeflow.org/v1
	// kind: TFJob
	// metadata:
	//   name: mnist
	// spec:
	//   tfReplicaSpecs:
	//     Worker:
	//       replicas: 2
	//       template:
	//         spec:
	//           containers:
	//           - name: tensorflow
	//             image: mnist:1
	//             env: [{name: NCCL_DEBUG, value: INFO}]
	//           tolerations: [{key: nvidia.com/gpu, operator: Exists}]
}

func ExamplePatch_json6902() {
	patch, err := render.ParsePatch("deadline.yaml", []byte(`- op: add
  path: /spec/runPolicy
  value: {activeDeadlineSeconds: 3600}
- op: replace
  path: /spec/tfReplicaSpecs/Worker/replicas
  value: 4
`), "TFJob")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	run(job, patch)
	// Output:
	// apiVersion: kubeflow.org/v1
	// kind: TFJob
	// metadata:
	//   name: mnist
	// spec:
	//   runPolicy:
	//     activeDeadlineSeconds: 3600
	//   tfReplicaSpecs:
	//     Worker:
	//       replicas: 4
	//       template:
	//         spec:
	//           containers:
	//           - image: mnist:1
	//             name: tensorflow
}
