//go:build integration

package integration

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/kaptain-dev/kubectl-kaptain/pkg/apply"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/model"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/render"
	"github.com/kaptain-dev/kubectl-kaptain/pkg/sdkerr"
)

func applier() *apply.Applier {
	shared.mapper.Reset()
	return &apply.Applier{Client: shared.dynamic, Mapper: shared.mapper}
}

func object(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func secret(ns, name string) *unstructured.Unstructured {
	return object("v1", "Secret", ns, name, map[string]any{"data": map[string]any{"AWS_ACCESS_KEY_ID": "bWluaW8="}})
}

func tfJob(ns, name string, replicas any) *unstructured.Unstructured {
	return object("kubeflow.org/v1", "TFJob", ns, name, map[string]any{"spec": map[string]any{
		"tfReplicaSpecs": map[string]any{"Worker": map[string]any{
			"replicas": replicas,
			"template": map[string]any{"spec": map[string]any{"containers": []any{
				map[string]any{"name": "tensorflow", "image": "registry.example.com/mnist:1"},
			}}},
		}},
	}})
}

func TestApplyLinksOwnedObjectsToTheirOwner(t *testing.T) {
	ns := namespace(t)
	nodes, err := render.Render([]*unstructured.Unstructured{tfJob(ns, "mnist", int64(2)), secret(ns, "mnist-storage")}, render.Options{
		Owner:  &render.OwnerLinks{APIVersion: "kubeflow.org/v1", Kind: "TFJob", Name: "mnist", OwnedKinds: []string{"Secret"}},
		Labels: map[string]string{model.LabelManagedBy: model.ManagedByValue},
	})
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render.Objects(nodes)
	if err != nil {
		t.Fatal(err)
	}
	results, err := applier().Apply(context.Background(), objs)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if results[0].Object.GetKind() != "Secret" || results[1].Object.GetKind() != "TFJob" {
		t.Errorf("applied %s then %s, want the Secret before the TFJob that uses it", results[0].Object.GetKind(), results[1].Object.GetKind())
	}
	job, err := shared.dynamic.Resource(tfJobs).Namespace(ns).Get(context.Background(), "mnist", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), "mnist-storage", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := s.GetOwnerReferences()
	if len(refs) != 1 || refs[0].UID != job.GetUID() || refs[0].Kind != "TFJob" {
		t.Errorf("owner references = %+v, want the TFJob %s", refs, job.GetUID())
	}
	for _, r := range results {
		if r.Operation != apply.Created {
			t.Errorf("%s %s: operation %s, want created", r.Object.GetKind(), r.Object.GetName(), r.Operation)
		}
	}
	again, err := applier().Apply(context.Background(), objs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Operation != apply.Unchanged {
			t.Errorf("re-applying %s: operation %s, want unchanged", r.Object.GetKind(), r.Operation)
		}
	}
}

func TestApplyRemovesWhatItCreatedWhenALaterObjectFails(t *testing.T) {
	ns := namespace(t)
	_, err := applier().Apply(context.Background(), []*unstructured.Unstructured{secret(ns, "storage"), tfJob(ns, "broken", "two")})
	if err == nil {
		t.Fatal("apply of a TFJob with replicas \"two\" succeeded")
	}
	if c := sdkerr.ClassOf(err); c != sdkerr.WorkloadDeployment {
		t.Errorf("class = %s, want WorkloadDeployment: %v", c, err)
	}
	_, err = shared.client.CoreV1().Secrets(ns).Get(context.Background(), "storage", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the Secret created before the failure is still there (err = %v)", err)
	}
}

func TestApplyKeepsObjectsThatExistedBefore(t *testing.T) {
	ns := namespace(t)
	if _, err := applier().Apply(context.Background(), []*unstructured.Unstructured{secret(ns, "storage")}); err != nil {
		t.Fatal(err)
	}
	if _, err := applier().Apply(context.Background(), []*unstructured.Unstructured{secret(ns, "storage"), tfJob(ns, "broken", "two")}); err == nil {
		t.Fatal("apply succeeded")
	}
	if _, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), "storage", metav1.GetOptions{}); err != nil {
		t.Errorf("a Secret this apply did not create was removed: %v", err)
	}
}

func TestApplyNamesTheMissingOperatorAndCreatesNothing(t *testing.T) {
	ns := namespace(t)
	mxJob := object("kubeflow.org/v1", "MXJob", ns, "mnist", map[string]any{"spec": map[string]any{}})
	isvc := object("serving.kubeflow.org/v1beta1", "InferenceService", ns, "mnist", map[string]any{"spec": map[string]any{}})
	for _, tc := range []struct {
		obj  *unstructured.Unstructured
		hint string
	}{
		{mxJob, "Kubeflow Training Operator"},
		{isvc, "KServe"},
	} {
		_, err := applier().Apply(context.Background(), []*unstructured.Unstructured{secret(ns, "storage"), tc.obj})
		if err == nil {
			t.Fatalf("apply of %s succeeded on a cluster without its CRD", tc.obj.GetKind())
		}
		if sdkerr.ClassOf(err) != sdkerr.WorkloadDeployment || !strings.Contains(err.Error(), tc.hint) {
			t.Errorf("error = %v (%s), want WorkloadDeployment naming %s", err, sdkerr.ClassOf(err), tc.hint)
		}
		if _, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), "storage", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a Secret was created before the unserved kind was found (err = %v)", err)
		}
	}
}

func TestApplyServerDryRunPersistsNothing(t *testing.T) {
	ns := namespace(t)
	a := applier()
	a.DryRun = true
	results, err := a.Apply(context.Background(), []*unstructured.Unstructured{secret(ns, "storage"), tfJob(ns, "mnist", int64(1))})
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[1].Object.GetName() != "mnist" {
		t.Errorf("results = %+v", results)
	}
	if count(t, tfJobs, ns) != 0 {
		t.Error("a server dry run created a TFJob")
	}
}

// cancelAfterFirstApply cancels the context once the server has accepted one apply, as a
// Ctrl-C between two objects of an action would.
type cancelAfterFirstApply struct {
	next   http.RoundTripper
	cancel context.CancelFunc
}

func (c cancelAfterFirstApply) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err == nil && req.Method == http.MethodPatch && resp.StatusCode < 300 {
		c.cancel()
	}
	return resp, err
}

func TestApplyInterruptedRemovesWhatItCreated(t *testing.T) {
	ns := namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := rest.CopyConfig(shared.config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return cancelAfterFirstApply{next: rt, cancel: cancel} }
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := applier()
	a.Client = client
	_, err = a.Apply(ctx, []*unstructured.Unstructured{secret(ns, "storage"), tfJob(ns, "mnist", int64(1))})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want the interruption", err)
	}
	if _, err := shared.client.CoreV1().Secrets(ns).Get(context.Background(), "storage", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Secret applied before the interruption is still there (err = %v)", err)
	}
	if count(t, tfJobs, ns) != 0 {
		t.Error("a TFJob was created after the interruption")
	}
}
