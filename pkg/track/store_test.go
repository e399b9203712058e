package track

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// newStore is a store over a fake cluster whose namespace ns holds the record of owner under
// the ConfigMap name of kubeName.
func newStore(t *testing.T, owner, kubeName string) (*Store, *fake.Clientset) {
	t.Helper()
	data, err := NewRecord(owner, "rev-0", t0).Encode()
	if err != nil {
		t.Fatal(err)
	}
	cs := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: Name(kubeName), Namespace: "ns"},
		Data:       map[string]string{DataKey: string(data)},
	})
	return &Store{ConfigMaps: cs.CoreV1(), Namespace: "ns", NewRevision: func() string { return "rev-new" }, Now: func() time.Time { return t0 }}, cs
}

func TestStoreRefusesTheRecordOfAnotherModel(t *testing.T) {
	const owner, other, kubeName = "team-a/churn", "team-b/churn", "churn-0badcafe"
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		op   func(s *Store, id string) error
	}{
		{"get", func(s *Store, id string) error {
			_, err := s.Get(ctx, id, kubeName)
			return err
		}},
		{"update", func(s *Store, id string) error {
			_, err := s.Update(ctx, id, kubeName, func(r *Record) error {
				r.Apply(Action{Name: "train", Revision: "rev-1"}, t0)
				return nil
			})
			return err
		}},
		{"record", func(s *Store, id string) error {
			return Recorder{Store: s, ModelID: id, KubeName: kubeName}.Record(ctx, Action{Name: "deploy", Revision: "rev-2"})
		}},
		{"latest model URI", func(s *Store, id string) error {
			_, err := s.LatestModelURI(ctx, id, kubeName)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, cs := newStore(t, owner, kubeName)
			before, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, Name(kubeName), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = tc.op(s, other)
			if err == nil {
				t.Fatalf("model %s used the record of model %s", other, owner)
			}
			if !errors.Is(err, ErrOtherModel) {
				t.Errorf("error %q does not wrap ErrOtherModel", err)
			}
			for _, part := range []string{`holds the record of model "team-a/churn", not "team-b/churn"`, "configmap " + Name(kubeName), "spec.id"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error = %q\nwant it to contain %q", err, part)
				}
			}
			after, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, Name(kubeName), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if after.Data[DataKey] != before.Data[DataKey] {
				t.Errorf("the record of %s was changed:\n%s", owner, after.Data[DataKey])
			}
			if err := tc.op(s, owner); err != nil {
				t.Errorf("the owner's own record: %v", err)
			}
		})
	}
}
