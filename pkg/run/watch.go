package run

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// ErrCannotWatch is a wait the API server refuses for good: the user may not list or watch the
// kind (403, 401), or it is no longer served (404: its CRD was removed). Retrying, as the
// informer otherwise does in silence, would wait until the timeout; the object itself keeps
// running. Transient errors (refused connections, 429, 5xx, 410) are still retried.
var ErrCannotWatch = errors.New("cannot watch")

// refused reports whether an API error will not go away by retrying.
func refused(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)
}

// Wait blocks until w.Done says so, an OnPod or Done error, or ctx ends. It returns the
// object's last version seen, also on error. When ctx ends, the error wraps ctx's error
// (context.DeadlineExceeded or context.Canceled). No OnPod call is running or starts once
// it has returned.
func (wt *Waiter) Wait(ctx context.Context, w Watch) (*unstructured.Unstructured, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// check ends the wait on an error the API server will keep returning.
	check := func(what string, err error) error {
		if err != nil && refused(err) {
			cancel(fmt.Errorf("%w %s: %w", ErrCannotWatch, what, err))
		}
		return err
	}
	podsDone := make(chan struct{})
	if w.PodSelector == "" || w.OnPod == nil || wt.Pods == nil {
		close(podsDone)
	} else {
		pods := wt.Pods.Pods(w.Namespace)
		// Pods the user may not watch leave the wait without pod states, as before: only
		// their own watch stops.
		podCtx, stopPods := context.WithCancel(ctx)
		defer stopPods()
		checkPods := func(err error) error {
			if err != nil && refused(err) {
				stopPods()
			}
			return err
		}
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector = w.PodSelector
				list, err := pods.List(ctx, o)
				return list, checkPods(err)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = w.PodSelector
				wi, err := pods.Watch(ctx, o)
				return wi, checkPods(err)
			},
		}
		go func() {
			defer close(podsDone)
			_, err := watchtools.UntilWithSync(podCtx, lw, &corev1.Pod{}, nil, func(ev watch.Event) (bool, error) {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type == watch.Deleted {
					return false, nil
				}
				return false, w.OnPod(pod)
			})
			if err != nil && podCtx.Err() == nil { // not stopped, by the wait or a refusal
				cancel(err)
			}
		}()
	}
	ri := wt.Client.Resource(w.Resource).Namespace(w.Namespace)
	byName := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			list, err := ri.List(ctx, o)
			return list, check(w.Resource.Resource, err)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			wi, err := ri.Watch(ctx, o)
			return wi, check(w.Resource.Resource, err)
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
