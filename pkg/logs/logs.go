// Package logs streams the logs of a workload's pods, each line prefixed with its replica
// ("[worker-1] ..."), attaching to pods as they appear and restart, without duplicates.
package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
)

// Streamer writes the logs of the pods it is given to Out.
type Streamer struct {
	Pods corev1client.PodsGetter
	Out  io.Writer
	// Container is the container to read; the pod's first container when empty.
	Container string
	// Follow keeps streaming until the container ends or the context does.
	Follow bool
	// Tail limits each stream to its last lines when set.
	Tail *int64
	// Prefix names a pod's lines, e.g. "worker-1".
	Prefix func(*corev1.Pod) string

	mu      sync.Mutex
	started map[string]bool
	wg      sync.WaitGroup
}

// Attach starts streaming pod's container if it has started (running or terminated) and this
// instance of it (pod UID and restart count) is not streamed yet. It returns at once.
func (s *Streamer) Attach(ctx context.Context, pod *corev1.Pod) {
	container := s.Container
	if container == "" && len(pod.Spec.Containers) > 0 {
		container = pod.Spec.Containers[0].Name
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != container || (cs.State.Running == nil && cs.State.Terminated == nil) {
			continue
		}
		key := fmt.Sprintf("%s/%s/%d", pod.UID, cs.Name, cs.RestartCount)
		s.mu.Lock()
		if s.started == nil {
			s.started = map[string]bool{}
		}
		seen := s.started[key]
		s.started[key] = true
		s.mu.Unlock()
		if seen {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.stream(ctx, pod, container); err != nil && ctx.Err() == nil {
				s.line(s.prefix(pod), fmt.Sprintf("(logs unavailable: %v)", err))
			}
		}()
	}
}

// Wait blocks until every stream has ended.
func (s *Streamer) Wait() { s.wg.Wait() }

func (s *Streamer) prefix(pod *corev1.Pod) string {
	if s.Prefix != nil {
		return s.Prefix(pod)
	}
	return pod.Name
}

func (s *Streamer) stream(ctx context.Context, pod *corev1.Pod, container string) error {
	req := s.Pods.Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, Follow: s.Follow, TailLines: s.Tail})
	rc, err := req.Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	prefix := s.prefix(pod)
	return splitLines(rc, maxLine, func(text string) { s.line(prefix, text) })
}

// maxLine is the longest log line written as one; a longer one (a progress bar redrawn
// with '\r' for an hour) is written in pieces of this size, each prefixed.
const maxLine = 64 * 1024

// splitLines calls line with each line of r, without its newline, cutting a line longer
// than limit into pieces of limit bytes; a last line without a newline counts too.
func splitLines(r io.Reader, limit int, line func(string)) error {
	br := bufio.NewReaderSize(r, limit)
	for {
		text, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			line(string(text[:len(text)-1]))
		case errors.Is(err, bufio.ErrBufferFull):
			line(string(text))
		case errors.Is(err, io.EOF):
			if len(text) > 0 {
				line(string(text))
			}
			return nil
		default:
			if len(text) > 0 {
				line(string(text))
			}
			return err
		}
	}
}

// line writes one prefixed line; lines of concurrent streams never interleave.
func (s *Streamer) line(prefix, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.Out, "[%s] %s\n", prefix, text)
}

// Last returns the last n lines of a pod's container, or of its previous instance, for
// error messages.
func Last(ctx context.Context, pods corev1client.PodsGetter, pod *corev1.Pod, container string, n int64, previous bool) (string, error) {
	rc, err := pods.Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container, TailLines: &n, Previous: previous}).Stream(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the logs of pod %s: %w", pod.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64*1024))
	if err != nil {
		return "", fmt.Errorf("reading the logs of pod %s: %w", pod.Name, err)
	}
	return strings.TrimRight(string(data), "\n"), nil
}
