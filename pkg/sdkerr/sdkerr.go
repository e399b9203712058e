// Package sdkerr defines the error classes of the Kaptain SDK as Go errors, each with its own
// process exit code.
package sdkerr

import (
	"errors"
	"fmt"
	"strings"
)

// Class is one of the Kaptain SDK's exception classes.
type Class int

// The error classes, mirroring the SDK's exceptions. Their exit codes are listed in the README.
const (
	// Unknown is any other failure (exit code 1, as kubectl).
	Unknown Class = iota
	// Usage is a wrong command line: unknown flag, missing argument (exit code 2).
	Usage
	// InvalidModelProperty is a model property that is blank or malformed.
	InvalidModelProperty
	// UndefinedModelProperty is a required model property that is missing.
	UndefinedModelProperty
	// UnsupportedAlgorithm is a hyperparameter tuning algorithm Katib does not offer.
	UnsupportedAlgorithm
	// UnsupportedModelDeployment is a framework that cannot be served.
	UnsupportedModelDeployment
	// UnsupportedMetricsType is a metrics type other than training, testing, validation, production.
	UnsupportedMetricsType
	// ModelDeployment is a failed deployment.
	ModelDeployment
	// ModelValidation is a model in a state unsuitable for the operation.
	ModelValidation
	// ImageBuild is a failed image build.
	ImageBuild
	// WorkloadDeployment is a workload the cluster did not accept or could not run.
	WorkloadDeployment
	// Timeout is a wait that ran out of time.
	Timeout
	// JobFailed is a workload that ran and failed (a training job's Failed condition).
	JobFailed
	// Interrupted is an action stopped by Ctrl-C (SIGINT) or SIGTERM, after cleaning up.
	Interrupted
)

var classes = [...]struct {
	name string
	code int
}{
	Unknown:                    {"Error", 1},
	Usage:                      {"UsageError", 2},
	InvalidModelProperty:       {"InvalidModelProperty", 3},
	UndefinedModelProperty:     {"UndefinedModelProperty", 4},
	UnsupportedAlgorithm:       {"UnsupportedAlgorithm", 5},
	UnsupportedModelDeployment: {"UnsupportedModelDeployment", 6},
	UnsupportedMetricsType:     {"UnsupportedMetricsType", 7},
	ModelDeployment:            {"ModelDeployment", 8},
	ModelValidation:            {"ModelValidation", 9},
	ImageBuild:                 {"ImageBuild", 10},
	WorkloadDeployment:         {"WorkloadDeployment", 11},
	Timeout:                    {"Timeout", 12},
	JobFailed:                  {"JobFailed", 13},
	Interrupted:                {"Interrupted", 130},
}

// String returns the SDK's name of the class.
func (c Class) String() string {
	if int(c) < len(classes) {
		return classes[c].name
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// ExitCode returns the process exit code of the class.
func (c Class) ExitCode() int {
	if int(c) < len(classes) {
		return classes[c].code
	}
	return 1
}

// Classes returns every class in exit-code order, for documentation and tests.
func Classes() []Class {
	out := make([]Class, len(classes))
	for i := range classes {
		out[i] = Class(i)
	}
	return out
}

// Error is a failure of one class, with an optional cause.
type Error struct {
	Class Class
	// Msg is the message, lowercase, naming the field or flag and the fix.
	Msg string
	// Err is the cause, if any.
	Err error
}

// Error returns the message followed by the cause.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	if e.Msg == "" {
		return e.Err.Error()
	}
	return e.Msg + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error of class c with a formatted message.
func New(c Class, format string, args ...any) error {
	return &Error{Class: c, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of class c whose cause is err; it returns nil when err is nil.
func Wrap(c Class, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Class: c, Msg: fmt.Sprintf(format, args...), Err: err}
}

// ClassOf returns the class of the outermost classified error in err's chain, or Unknown.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Unknown
}

// ExitCode returns the exit code for err: 0 for nil.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return ClassOf(err).ExitCode()
}

// Chain renders err's cause chain, one cause a line, for KAPTAIN_SDK_DEBUG.
func Chain(err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "class: %s (exit code %d)\n", ClassOf(err), ExitCode(err))
	for depth := 0; err != nil; depth++ {
		fmt.Fprintf(&b, "%s%T: %s\n", strings.Repeat("  ", depth), err, err.Error())
		switch u := err.(type) { //nolint:errorlint // walks the chain one link at a time
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				fmt.Fprintf(&b, "%s%T: %s\n", strings.Repeat("  ", depth+1), e, e.Error())
			}
			err = nil
		default:
			err = errors.Unwrap(err)
		}
	}
	return b.String()
}
