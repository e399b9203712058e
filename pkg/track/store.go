package track

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/util/retry"
)

// DataKey is the ConfigMap key that holds the record's JSON.
const DataKey = "record.json"

// ErrNotTracked says that a model has no record yet.
var ErrNotTracked = errors.New("not tracked yet")

// ErrOtherModel says that a record's ConfigMap holds the record of another model id: two ids
// whose Kubernetes names are the same.
var ErrOtherModel = errors.New("the record belongs to another model")

// Store reads and writes model records, one ConfigMap per model.
type Store struct {
	ConfigMaps corev1client.ConfigMapsGetter
	Namespace  string
	// Labels are set on a record's ConfigMap (managed-by, model).
	Labels map[string]string
	// Annotations are set on a record's ConfigMap (the model id).
	Annotations map[string]string
	// NewRevision returns the first revision of a new record.
	NewRevision func() string
	// Now returns the time of changes.
	Now func() time.Time
}

// conflictBackoff retries long enough for tens of concurrent writers.
var conflictBackoff = wait.Backoff{Steps: 60, Duration: 10 * time.Millisecond, Factor: 1.3, Jitter: 1, Cap: time.Second}

// Name is the ConfigMap name of a model's record, from its Kubernetes name.
func Name(kubeName string) string { return namePrefix + kubeName }

const namePrefix = "kaptain-model-"

// Get reads the record of a model; the error wraps ErrNotTracked when there is none.
func (s *Store) Get(ctx context.Context, modelID, kubeName string) (*Record, error) {
	cm, err := s.ConfigMaps.ConfigMaps(s.Namespace).Get(ctx, Name(kubeName), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("model %s: %w in namespace %s", modelID, ErrNotTracked, s.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the record of model %s: %w", modelID, err)
	}
	rec, err := s.decode(cm, modelID)
	if err != nil {
		return nil, fmt.Errorf("reading the record of model %s: %w", modelID, err)
	}
	return rec, nil
}

// decode reads the record in cm and checks that it is modelID's: KubeName keeps a short hash
// of the id, so two ids can share a ConfigMap name, and one must never read or change the
// other's record.
func (s *Store) decode(cm *corev1.ConfigMap, modelID string) (*Record, error) {
	rec, err := Decode([]byte(cm.Data[DataKey]))
	if err != nil {
		return nil, fmt.Errorf("configmap %s: %w", cm.Name, err)
	}
	if rec.ModelID != modelID {
		return nil, fmt.Errorf("configmap %s in namespace %s holds the record of model %q, not %q: %w; give spec.id a value that does not share its Kubernetes name (%s) with %q",
			cm.Name, s.Namespace, rec.ModelID, modelID, ErrOtherModel, strings.TrimPrefix(cm.Name, namePrefix), rec.ModelID)
	}
	return rec, nil
}

// Update changes a model's record with fn, creating the record when there is none. It reads,
// changes and writes with the resourceVersion read, and starts again from a fresh read when
// another writer came first, so concurrent updates are all kept. An error from fn stops it.
func (s *Store) Update(ctx context.Context, modelID, kubeName string, fn func(*Record) error) (*Record, error) {
	var out *Record
	cms := s.ConfigMaps.ConfigMaps(s.Namespace)
	name := Name(kubeName)
	err := retry.OnError(conflictBackoff, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		var rec *Record
		switch {
		case apierrors.IsNotFound(err):
			cm = nil
			rec = NewRecord(modelID, s.NewRevision(), s.Now())
		case err != nil:
			return err
		default:
			if rec, err = s.decode(cm, modelID); err != nil {
				return err
			}
		}
		if err := fn(rec); err != nil {
			return err
		}
		data, err := rec.Encode()
		if err != nil {
			return err
		}
		if cm == nil {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: s.Labels, Annotations: s.Annotations}}
			cm.Data = map[string]string{DataKey: string(data)}
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "kubectl-kaptain"})
		} else {
			cm.Data = map[string]string{DataKey: string(data)}
			_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "kubectl-kaptain"})
		}
		out = rec
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("updating the record of model %s: %w", modelID, err)
	}
	return out, nil
}

// Recorder adds actions to one model's record.
type Recorder struct {
	Store             *Store
	ModelID, KubeName string
}

// Record applies a to the model's record, at the store's time.
func (r Recorder) Record(ctx context.Context, a Action) error {
	_, err := r.Store.Update(ctx, r.ModelID, r.KubeName, func(rec *Record) error {
		rec.Apply(a, r.Store.Now().UTC())
		return nil
	})
	return err
}

// LatestModelURI is the model URI of the newest successful entry of one of actions in the
// record of a model, "" when there is none or no record.
func (s *Store) LatestModelURI(ctx context.Context, modelID, kubeName string, actions ...string) (string, error) {
	rec, err := s.Get(ctx, modelID, kubeName)
	if errors.Is(err, ErrNotTracked) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return rec.LatestModelURI(actions...), nil
}
