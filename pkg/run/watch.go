package run

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Watch says what to wait for: one object, and optionally the pods it runs.
type Watch struct {
	Resource        schema.GroupVersionResource
	Namespace, Name string
	// PodSelector selects the object's pods; they are watched only when set with OnPod.
	PodSelector string
	// Done sees every version of the object; true ends the wait, an error fails it.
	Done func(obj *unstructured.Unstructured) (bool, error)
	// OnPod sees every version of every selected pod; an error fails the wait at once.
	OnPod func(pod *corev1.Pod) error
}

// Waiter waits by watching, never by polling: a list then a watch per object (and one for its
// pods), resumed from the last seen resource version when the server drops it.
type Waiter struct {
	Client dynamic.Interface
	Pods   corev1client.PodsGetter
}

// ErrDeleted is returned when the watched object is deleted while waiting.
var ErrDeleted = errors.New("deleted while waiting")

// Wait blocks until w.Done says so, an OnPod or Done error, or ctx ends. It returns the
// object's last version seen, also on error. When ctx ends, the error wraps ctx's error
// (context.DeadlineExceeded or context.Canceled). No OnPod call is running or starts once
// it has returned.
func (wt *Waiter) Wait(ctx context.Context, w Watch) (*unstructured.Unstructured, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	podsDone := make(chan struct{})
	if w.PodSelector == "" || w.OnPod == nil || wt.Pods == nil {
		close(podsDone)
	} else {
		pods := wt.Pods.Pods(w.Namespace)
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector = w.PodSelector
				return pods.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = w.PodSelector
				return pods.Watch(ctx, o)
			},
		}
		go func() {
			defer close(podsDone)
			_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type == watch.Deleted {
					return false, nil
				}
				return false, w.OnPod(pod)
			})
			if err != nil && ctx.Err() == nil {
				cancel(err)
			}
		}()
	}
	ri := wt.Client.Resource(w.Resource).Namespace(w.Namespace)
	byName := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return ri.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return ri.Watch(ctx, o)
		},
	}
	var last *unstructured.Unstructured
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		obj, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		last = obj
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("%s %s: %w", strings.TrimSuffix(w.Resource.Resource, "s"), w.Name, ErrDeleted)
		}
		return w.Done(obj)
	})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			// The pod watch failed the wait, or the caller's context ended.
			err = cause
		}
	}
	cancel(nil)
	<-podsDone
	return last, err
}
