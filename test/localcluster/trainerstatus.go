package localcluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Trainer's status server (the TrainJobStatus feature gate): names it has no setting for.
const (
	// trainerNamespace is the namespace Trainer reads from its service account's files: its
	// webhook Secret is there.
	trainerNamespace = "kubeflow-system"
	// trainerServiceAccount names the controller's service account, whose token tells the
	// status server the cluster's token issuer.
	trainerServiceAccount = "kubeflow-trainer-controller-manager"
	// trainerWebhookSecret holds the ca.crt Trainer copies into each TrainJob's
	// <name>-tls-config ConfigMap, which the trainer pods mount.
	trainerWebhookSecret = "kubeflow-trainer-webhook-cert"
	// serviceAccountDir is where the controller reads its token and namespace.
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	// trainerCertDir is where the status server reads its certificate: a fixed path.
	trainerCertDir = "/tmp/k8s-webhook-server/serving-certs"
	// trainerStatusService is the host of the URL Trainer gives the trainer pods.
	trainerStatusService = trainerServiceAccount + "." + trainerNamespace + ".svc"
	// trainerTokenVolume is the projected volume with the token and CA the trainer sends with.
	trainerTokenVolume = "kubeflow-trainer-token"
	// TrainerStatusURLEnv is the variable Trainer sets on the trainer's containers.
	TrainerStatusURLEnv = "KUBEFLOW_TRAINER_SERVER_URL"
)

// trainerIdentity creates what the status server needs from the cluster (its namespace, its
// webhook Secret with the local CA, its service account) and writes the service account's
// files (a token from the TokenRequest API, the namespace) into dir.
func trainerIdentity(ctx context.Context, client kubernetes.Interface, dir string, certs *webhookCerts) error {
	if err := createNamespace(ctx, client, trainerNamespace); err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: trainerWebhookSecret, Namespace: trainerNamespace},
		Data: map[string][]byte{"ca.crt": certs.caPEM, "tls.crt": certs.certPEM, "tls.key": certs.keyPEM}}
	if _, err := client.CoreV1().Secrets(trainerNamespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Trainer's webhook Secret: %w", err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: trainerServiceAccount, Namespace: trainerNamespace}}
	if _, err := client.CoreV1().ServiceAccounts(trainerNamespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Trainer's service account: %w", err)
	}
	tr, err := client.CoreV1().ServiceAccounts(trainerNamespace).CreateToken(ctx, trainerServiceAccount, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting Trainer's service account token: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, data := range map[string]string{"token": tr.Status.Token, "namespace": trainerNamespace} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// TrainerStatus is what a trainer reports to Trainer's status server (trainerStatus of
// trainer.kubeflow.org/v1alpha1 UpdateTrainJobStatusRequest).
type TrainerStatus struct {
	ProgressPercentage        *int32    `json:"progressPercentage,omitempty"`
	EstimatedRemainingSeconds *int32    `json:"estimatedRemainingSeconds,omitempty"`
	Metrics                   []Metric  `json:"metrics,omitempty"`
	LastUpdatedTime           time.Time `json:"lastUpdatedTime"`
}

// Metric is a trainer's metric, its value as a string.
type Metric struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ReportTrainerStatus plays a trainer pod that reports its progress, as the Kubeflow SDK's
// trainers do: it posts status to the URL Trainer set in the pod's environment, with a
// token of the pod's service account for the audience of the pod's projected volume, over
// TLS checked against the CA Trainer mounts. Only the connection differs: the service's
// name is dialled at the status server's loopback address.
func (c *Cluster) ReportTrainerStatus(ctx context.Context, pod *corev1.Pod, status TrainerStatus) error {
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	var statusURL, audience, caConfigMap string
	for _, e := range pod.Spec.Containers[0].Env {
		if e.Name == TrainerStatusURLEnv {
			statusURL = e.Value
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name != trainerTokenVolume || v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				audience = s.ServiceAccountToken.Audience
			}
			if s.ConfigMap != nil {
				caConfigMap = s.ConfigMap.Name
			}
		}
	}
	if statusURL == "" || audience == "" || caConfigMap == "" {
		return fmt.Errorf("pod %s has no %s, token audience or CA ConfigMap: Trainer did not inject its status server", pod.Name, TrainerStatusURLEnv)
	}
	u, err := url.Parse(statusURL)
	if err != nil {
		return err
	}
	cm, err := client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, caConfigMap, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the status server's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(cm.Data["ca.crt"])) {
		return fmt.Errorf("ConfigMap %s has no ca.crt", caConfigMap)
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: []string{audience}}}
	if pod.Spec.ServiceAccountName != "" {
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	tr, err := client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting the trainer's token: %w", err)
	}
	body, err := json.Marshal(map[string]any{"trainerStatus": status})
	if err != nil {
		return err
	}
	_, port, _ := net.SplitHostPort(u.Host)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, statusURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tr.Status.Token)
	r.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(r)
	if err != nil {
		return fmt.Errorf("posting to Trainer's status server: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the Trainer status server answered %s: %s", resp.Status, msg)
	}
	return nil
}
