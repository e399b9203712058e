package localcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Knative Serving's modules, pinned by test/knative's go.mod, from which hack/operators.sh
// builds knative-webhook, knative-autoscaler and knative-controller.
const (
	KnativeServingModule    = "knative.dev/serving@v0.42.2"
	knativeNetworkingModule = "knative.dev/networking@v0.0.0-20240716111826-bab7f2a3e556"
	knativeCachingModule    = "knative.dev/caching@v0.0.0-20240716132144-989f54c83776"
)

// KnativeNamespace is Knative Serving's system namespace.
const KnativeNamespace = "knative-serving"

// KnativeIngressClass is the ingress class of every Route: the class of this cluster's
// played ingress, whose KIngresses playIngresses marks ready.
const KnativeIngressClass = "kaptain.ingress.networking.knative.dev"

// knativeAutoscalerAddress is where the autoscaler's stats server listens, on every
// interface: Knative has no setting for it. One local cluster at a time can have it.
const knativeAutoscalerAddress = "127.0.0.1:8080"

// knativeRegistriesSkippingResolution are the registries whose image tags Knative's
// controller does not resolve to digests: every public registry a serving runtime or a test
// names (Docker Hub by the name go-containerregistry gives it, index.docker.io). A tag on any
// other registry is resolved, which on this machine fails at the proxy trap unless the
// registry is on loopback: nothing leaves the machine.
const knativeRegistriesSkippingResolution = "index.docker.io,docker.io,ghcr.io,gcr.io,quay.io,nvcr.io,registry.k8s.io,public.ecr.aws,kind.local,ko.local,dev.local"

// knativeSettings are the keys the local cluster sets in Knative's upstream ConfigMaps (their
// _example keys, whose checksums Knative checks, are left as they are).
var knativeSettings = map[string]map[string]string{
	"config-deployment": {
		// Never pulled: only user containers' tags are resolved, and kwok pulls nothing.
		"queue-sidecar-image":               "kaptain.local/knative/queue:v0.42.2",
		"registries-skipping-tag-resolving": knativeRegistriesSkippingResolution,
		"digest-resolution-timeout":         "2s",
		"progress-deadline":                 "120s",
	},
	"config-network": {
		"ingress-class": KnativeIngressClass,
		// No mesh: the autoscaler would otherwise probe pods through Services.
		"mesh-compatibility-mode": "disabled",
		"rollout-duration":        "0",
	},
	// The domain KServe's ingress configuration names.
	"config-domain": {"example.com": ""},
	"config-autoscaler": {
		// Services start at their minimum, zero for those that may scale to zero (a
		// cluster that starts services cold): a Revision at zero pods is Ready.
		"initial-scale":            "0",
		"allow-zero-initial-scale": "true",
		"enable-scale-to-zero":     "true",
		// No activator in the path: the autoscaler then neither scrapes pods (their kwok
		// addresses route off the machine) nor probes the activator.
		"target-burst-capacity":      "-1",
		"stable-window":              "6s",
		"scale-to-zero-grace-period": "6s",
	},
	// KServe puts init containers, volumes and the scheduling a model asks for (node
	// selector, tolerations, affinity) in the Knative Services it makes.
	"config-features": {
		"kubernetes.podspec-init-containers":         "enabled",
		"kubernetes.podspec-persistent-volume-claim": "enabled",
		"kubernetes.podspec-persistent-volume-write": "enabled",
		"kubernetes.podspec-volumes-emptydir":        "enabled",
		"kubernetes.podspec-fieldref":                "enabled",
		"kubernetes.podspec-nodeselector":            "enabled",
		"kubernetes.podspec-tolerations":             "enabled",
		"kubernetes.podspec-affinity":                "enabled",
	},
	"config-observability": {"metrics.backend-destination": "none", "profiling.enable": "false"},
}

// knative starts Knative Serving (its webhook with the real admission of its kinds, its
// autoscaler and its controller) in namespace knative-serving, on loopback. Its CRDs were
// installed with the control plane, before KServe's controller started: KServe looks for them
// once, at start-up. The one part played is the networking layer: no ingress can run here,
// so playIngresses marks the KIngresses of the local ingress class ready, as an ingress
// controller does once it routes their hosts.
func (c *Cluster) knative(ctx context.Context, client kubernetes.Interface, serving, networking string, certs *webhookCerts) error {
	if err := createNamespace(ctx, client, KnativeNamespace); err != nil {
		return err
	}
	a, err := newApplier(c.Config)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(serving, "config", "core", "configmaps", "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no Knative ConfigMaps under %s", serving)
	}
	seen := map[string]bool{}
	for _, f := range append(files, filepath.Join(networking, "config", "config-network.yaml")) {
		objs, err := decodeFile(f)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if obj.GetKind() != "ConfigMap" {
				continue
			}
			seen[obj.GetName()] = true
			obj.SetNamespace(KnativeNamespace)
			for k, v := range knativeSettings[obj.GetName()] {
				if err := unstructured.SetNestedField(obj.Object, v, "data", k); err != nil {
					return err
				}
			}
			if err := a.create(ctx, obj); err != nil {
				return err
			}
		}
	}
	for name := range knativeSettings {
		if !seen[name] {
			return fmt.Errorf("knative: no upstream ConfigMap %s to set", name)
		}
	}
	// The webhook's certificate: its certificate controller keeps a Secret that has all three
	// keys and is valid for more than a day, and its TLS server serves it.
	if _, err := client.CoreV1().Secrets(KnativeNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "webhook-certs", Namespace: KnativeNamespace},
		Data:       map[string][]byte{"server-key.pem": certs.keyPEM, "server-cert.pem": certs.certPEM, "ca-cert.pem": certs.caPEM},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Knative's webhook certificate Secret: %w", err)
	}
	// The activator's Service and Endpoints, with no address: the serverless services then
	// stay in Serve mode, routing to the revisions' own pods (there is no activator here).
	if _, err := client.CoreV1().Services(KnativeNamespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "activator-service", Namespace: KnativeNamespace},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Knative's activator Service: %w", err)
	}
	if _, err := client.CoreV1().Endpoints(KnativeNamespace).Create(ctx, &corev1.Endpoints{ //nolint:staticcheck // Knative v0.42 reads Endpoints
		ObjectMeta: metav1.ObjectMeta{Name: "activator-service", Namespace: KnativeNamespace},
	}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Knative's activator Endpoints: %w", err)
	}

	ports, err := c.freePorts(4)
	if err != nil {
		return err
	}
	webhookPort := ports[0]
	env := func(name, profiling string) []string {
		return []string{
			"KUBECONFIG=" + c.Kubeconfig, "SYSTEM_NAMESPACE=" + KnativeNamespace, "POD_NAME=" + name,
			"PROFILING_PORT=" + profiling, "METRICS_DOMAIN=knative.dev/internal/serving",
		}
	}
	if err := c.start("knative-webhook", append(env("knative-webhook", ports[1]), "WEBHOOK_NAME=webhook", "WEBHOOK_PORT="+webhookPort),
		[]string{"127.0.0.1:" + webhookPort, "127.0.0.1:" + ports[1]}, filepath.Join(c.opts.Operators, "knative-webhook"), "--disable-ha"); err != nil {
		return err
	}
	if err := waitListening(ctx, c.procs[len(c.procs)-1], "127.0.0.1:"+webhookPort); err != nil {
		return err
	}
	// Registered by URL: the webhook's own reconcilers leave a configuration with no Service
	// reference as it is (they log that they cannot manage it), so the upstream rules stay.
	paths := map[string]string{"webhook.serving.knative.dev": "/defaulting", "validation.webhook.serving.knative.dev": "/resource-validation"}
	for _, f := range []string{"defaulting.yaml", "resource-validation.yaml"} {
		if err := (webhookFile{
			path: filepath.Join(serving, "config", "core", "webhooks", f),
			port: webhookPort,
			adjust: func(hook map[string]any) {
				name, _ := hook["name"].(string)
				cc := hook["clientConfig"].(map[string]any)
				cc["url"] = cc["url"].(string) + paths[name]
			},
		}).register(ctx, a, certs.caPEM); err != nil {
			return err
		}
	}

	// The controller resolves image tags to digests by asking their registries; a proxy that
	// refuses every connection makes sure no such request leaves the machine (loopback, the
	// API server and a local registry, is never proxied).
	if err := c.start("knative-controller", append(env("knative-controller", ports[2]),
		"HTTPS_PROXY=http://127.0.0.1:1", "HTTP_PROXY=http://127.0.0.1:1", "NO_PROXY=127.0.0.1,localhost"),
		[]string{"127.0.0.1:" + ports[2]}, filepath.Join(c.opts.Operators, "knative-controller"), "--disable-ha"); err != nil {
		return err
	}
	if err := waitListening(ctx, c.procs[len(c.procs)-1], "127.0.0.1:"+ports[2]); err != nil {
		return err
	}

	if conn, err := net.DialTimeout("tcp", knativeAutoscalerAddress, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("%s is taken (another local cluster's knative-autoscaler?): Knative's autoscaler listens on port 8080", knativeAutoscalerAddress)
	}
	// POD_IP goes into the Endpoints of the autoscaler's bucket Service, which refuses
	// loopback: an address of TEST-NET-3 that nothing dials with one autoscaler.
	if err := c.start("knative-autoscaler", append(env("knative-autoscaler", ports[3]), "POD_IP=203.0.113.1"),
		[]string{knativeAutoscalerAddress, "127.0.0.1:" + ports[3]}, filepath.Join(c.opts.Operators, "knative-autoscaler")); err != nil {
		return err
	}
	if err := waitListening(ctx, c.procs[len(c.procs)-1], knativeAutoscalerAddress); err != nil {
		return err
	}

	d, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	playCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); playIngresses(playCtx, d) }()
	c.cleanup = append(c.cleanup, func() { cancel(); <-done })
	return nil
}

// KnativeIngresses are Knative's internal ingresses, one per Route.
var KnativeIngresses = schema.GroupVersionResource{Group: "networking.internal.knative.dev", Version: "v1alpha1", Resource: "ingresses"}

// playIngresses marks every KIngress of KnativeIngressClass ready at its generation, with
// the load balancers Knative's own ingress (net-istio, net-kourier) reports, until ctx ends.
// Each change of a Route's traffic bumps its KIngress's generation and is played again.
func playIngresses(ctx context.Context, d dynamic.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		list, err := d.Resource(KnativeIngresses).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for i := range list.Items {
			ing := &list.Items[i]
			if ing.GetAnnotations()["networking.knative.dev/ingress.class"] != KnativeIngressClass || ing.GetDeletionTimestamp() != nil {
				continue
			}
			if seen, _, _ := unstructured.NestedInt64(ing.Object, "status", "observedGeneration"); seen == ing.GetGeneration() {
				continue
			}
			_ = unstructured.SetNestedField(ing.Object, ingressStatus(ing.GetGeneration(), time.Now()), "status")
			// A conflict is played again at the next round.
			_, _ = d.Resource(KnativeIngresses).Namespace(ing.GetNamespace()).UpdateStatus(ctx, ing, metav1.UpdateOptions{})
		}
	}
}

// ingressStatus is a ready KIngress's status at generation.
func ingressStatus(generation int64, now time.Time) map[string]any {
	at := now.UTC().Format(time.RFC3339)
	var conditions []any
	for _, t := range []string{"LoadBalancerReady", "NetworkConfigured", "Ready"} {
		conditions = append(conditions, map[string]any{"type": t, "status": "True", "lastTransitionTime": at})
	}
	lb := func(host string) map[string]any {
		return map[string]any{"ingress": []any{map[string]any{"domainInternal": host}}}
	}
	return map[string]any{
		"observedGeneration":  generation,
		"conditions":          conditions,
		"publicLoadBalancer":  lb("knative-ingress-gateway." + KnativeNamespace + ".svc.cluster.local"),
		"privateLoadBalancer": lb("knative-local-gateway." + KnativeNamespace + ".svc.cluster.local"),
	}
}

// knativeCRDs are Knative Serving's CRDs and those of the networking and caching kinds its
// controllers watch (KIngress, ServerlessService, Certificate, Image).
func knativeCRDs(serving, networking, caching string) []string {
	return []string{
		filepath.Join(serving, "config", "core", "300-resources"),
		filepath.Join(networking, "config"),
		filepath.Join(caching, "config", "image.yaml"),
	}
}
