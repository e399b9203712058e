package image

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

// Problem names what went wrong talking to a registry, for messages with a fix.
type Problem int

// The problems Explain tells apart.
const (
	ProblemOther Problem = iota
	ProblemUnauthorized
	ProblemUnknownCA
	ProblemUnreachable
	ProblemNotFound
)

// Diagnose says which Problem err is.
func Diagnose(err error) Problem {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return ProblemUnauthorized
		case http.StatusNotFound:
			return ProblemNotFound
		}
	}
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		return ProblemUnknownCA
	}
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		return ProblemUnreachable
	}
	return ProblemOther
}

// Explain turns a registry error into a message that says what to do; hints name where the
// credentials and CA came from. A base image's error is explained with the base's registry.
func Explain(err error, registry string, hints Hints) error {
	var base *BaseImageError
	if errors.As(err, &base) {
		registry = base.Registry
		if Diagnose(err) == ProblemNotFound {
			return fmt.Errorf("base image %s not found in %s: check spec.baseImage: %w", base.Image, registry, err)
		}
	}
	switch Diagnose(err) {
	case ProblemUnauthorized:
		return fmt.Errorf("registry %s refused the credentials %s: check the user name and password (docker login %s): %w", registry, hints.credentials(), registry, err)
	case ProblemUnknownCA:
		return fmt.Errorf("registry %s presented a certificate signed by an unknown authority: give its CA with --registry-ca or %s (or --insecure-registry to skip verification): %w", registry, hints.caOr(), err)
	case ProblemUnreachable:
		return fmt.Errorf("cannot reach registry %s: check the image name and that the registry is up: %w", registry, err)
	case ProblemNotFound:
		return fmt.Errorf("registry %s answered not found: check the repository (or project) of spec.image exists: %w", registry, err)
	}
	return err
}

// Hints say where credentials and certificates were read from.
type Hints struct {
	DockerConfig string
	CA           string
}

func (h Hints) credentials() string {
	if h.DockerConfig == "" {
		return "(none found: anonymous)"
	}
	return "from " + h.DockerConfig
}

func (h Hints) caOr() string {
	if h.CA != "" {
		return h.CA + " (which does not have it)"
	}
	return "~/.tls/certificate.crt"
}
