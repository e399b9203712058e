package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ClusterDomain is the real node's cluster domain, as kubelet's clusterDomain.
const ClusterDomain = "cluster.local"

// clusterDNS answers the real node's pods' DNS queries for the names Kubernetes' DNS
// specification gives services and their pods, read from the API server at each query:
// <service>.<namespace>.svc.<domain> is the addresses of the service's ready endpoints (for a
// ClusterIP service too: without kube-proxy its ClusterIP leads nowhere), and
// <hostname>.<service>.<namespace>.svc.<domain> the endpoint of that hostname (a JobSet's
// pods, whose subdomain is the JobSet's headless service). Every other name is answered
// NXDOMAIN: no query is forwarded, nothing outside resolves.
type clusterDNS struct {
	client kubernetes.Interface
	domain string
}

// startDNS serves the cluster's names over UDP on addr's port 53 until the cluster stops.
func (c *Cluster) startDNS(client kubernetes.Interface, addr string) error {
	pc, err := net.ListenPacket("udp", net.JoinHostPort(addr, "53"))
	if err != nil {
		return fmt.Errorf("the real node's DNS server: %w", err)
	}
	c.cleanup = append(c.cleanup, func() { _ = pc.Close() })
	d := clusterDNS{client: client, domain: ClusterDomain}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			query := append([]byte(nil), buf[:n]...)
			go func() {
				if reply, err := d.answer(query); err == nil {
					_, _ = pc.WriteTo(reply, from)
				}
			}()
		}
	}()
	return nil
}

// answer builds the reply to one query: the A records of its name, none for its other
// types, or NXDOMAIN for a name outside the cluster's.
func (d clusterDNS) answer(query []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, found, err := d.lookup(ctx, q.Name.String())
	header := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	switch {
	case err != nil:
		header.RCode = dnsmessage.RCodeServerFailure
	case !found:
		header.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), header)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if q.Type != dnsmessage.TypeA && q.Type != dnsmessage.TypeALL {
			break
		}
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}
		if err := b.AResource(rh, dnsmessage.AResource{A: a.As4()}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}

// lookup returns the IPv4 addresses of a cluster name, and whether the name exists.
func (d clusterDNS) lookup(ctx context.Context, name string) ([]netip.Addr, bool, error) {
	rest, ok := strings.CutSuffix(strings.TrimSuffix(strings.ToLower(name), "."), ".svc."+d.domain)
	if !ok {
		return nil, false, nil
	}
	labels := strings.Split(rest, ".")
	var host, service, namespace string
	switch len(labels) {
	case 2:
		service, namespace = labels[0], labels[1]
	case 3:
		host, service, namespace = labels[0], labels[1], labels[2]
	default:
		return nil, false, nil
	}
	if _, err := d.client.CoreV1().Services(namespace).Get(ctx, service, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	slices, err := d.client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, false, err
	}
	var addrs []netip.Addr
	for _, s := range slices.Items {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if host != "" && (e.Hostname == nil || *e.Hostname != host) {
				continue
			}
			for _, a := range e.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil && ip.Is4() {
					addrs = append(addrs, ip)
				}
			}
		}
	}
	return addrs, host == "" || len(addrs) > 0, nil
}
