# kubectl-kaptain. 'make demo' is the main job, 'make test' the tests (what .ci/run calls).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
BIN     := bin/kubectl-kaptain

.PHONY: build test unit integration e2e fuzz lint docs verify-docs demo bench bench-build bench-list release-snapshot release-check krew-manifest clean

build: ## Build bin/kubectl-kaptain (the command goes to stderr: make demo's stdout is YAML)
	@echo "go build -o $(BIN) ./cmd/kubectl-kaptain ($(VERSION))" >&2
	@CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubectl-kaptain

test: unit integration ## Unit and integration tests (builds the control plane and S3 server once, into .cache/; installs Debian's docker-registry)

unit: ## Unit tests, and Katib v0.19.0's defaulting, validator and trial generator over the golden Experiments (test/katib, a module of its own)
	go test ./...
	cd test/katib && go test ./...

integration:
	cp=$$(hack/control-plane.sh kubectl) && KAPTAIN_CONTROL_PLANE=$$cp KAPTAIN_KUBECTL=$$cp/kubectl KAPTAIN_CRDS=$$(hack/crds.sh) \
	KAPTAIN_REGISTRY_SERVER=$$(hack/registry-server.sh) KAPTAIN_S3_SERVER=$$(hack/s3-server.sh) \
		go test -tags integration -count=1 ./test/...

E2E_ENV = KAPTAIN_CONTROL_PLANE=$$(hack/control-plane.sh kube-scheduler kube-controller-manager) \
	KAPTAIN_OPERATORS=$$(hack/operators.sh) KAPTAIN_POSTGRES=$$(hack/postgres.sh) \
	KAPTAIN_REGISTRY_SERVER=$$(hack/registry-server.sh) KAPTAIN_S3_SERVER=$$(hack/s3-server.sh) KAPTAIN_NODE=$$(hack/node.sh)

e2e: ## The built plugin against a local Kubeflow: real Training Operator, Trainer, KServe and Katib, kwok nodes and a real node
	$(E2E_ENV) go test -tags e2e -count=1 -timeout 30m -v ./test/e2e/...

FUZZTIME ?= 60s
FUZZCACHE = $$(go env GOCACHE)/fuzz/github.com/kaptain-dev/kubectl-kaptain
FUZZ_TARGETS = pkg/model:FuzzParse pkg/config:FuzzParseKeyValues pkg/config:FuzzParseNodeSelector pkg/config:FuzzParseTolerations pkg/workload:FuzzParseParam pkg/workload:FuzzTrialValue \
	pkg/model:FuzzParseStorageURI pkg/model:FuzzCheckStoredURI pkg/track:FuzzDecodeRecord pkg/workload:FuzzStatusReaders pkg/render:FuzzParsePatch \
	pkg/image:FuzzContext pkg/credentials:FuzzDockerConfig pkg/credentials:FuzzRegistryCAs pkg/term:FuzzWriter pkg/local:FuzzMetrics
fuzz: ## Run each fuzz target for FUZZTIME and keep the corpus it grew under testdata/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t#*:}; \
	  echo "fuzz: $$pkg $$fn ($(FUZZTIME))"; \
	  go test ./$$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); \
	  mkdir -p $$pkg/testdata/fuzz/$$fn; \
	  cp -n $(FUZZCACHE)/$$pkg/$$fn/* $$pkg/testdata/fuzz/$$fn/ 2>/dev/null || true; \
	done

lint: verify-docs ## gofmt, golangci-lint (.golangci.yml: vet, staticcheck, errorlint, gosec, revive, ...), the project's own rules and the generated reference
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	lint=$$(hack/tools.sh golangci-lint) && $$lint run ./... && \
	  (cd test/katib && $$lint run --config ../../.golangci.yml ./...) && \
	  (cd test/knative && $$lint run --config ../../.golangci.yml ./...)
	hack/verify-rules.sh

docs: ## Write the command reference (docs/reference) from the commands' help
	rm -rf docs/reference && go run ./hack/gendocs docs/reference

verify-docs: ## Check that docs/reference is what the commands' help says (make docs updates it)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && go run ./hack/gendocs "$$tmp" && \
	  diff -r docs/reference "$$tmp" >/dev/null || { echo "docs/reference differs from the commands' help: run make docs" >&2; diff -ru docs/reference "$$tmp" | head -40 >&2; exit 1; }

demo: build ## The main job: the examples built, trained, tuned and served on a local Kubeflow (kwok nodes and a real node; as root)
	@hack/demo.sh $(BIN)

bench: build ## Start-up and render benchmarks against kubectl (see docs/benchmarks.md)
	hack/bench.sh

bench-build: build ## Build and push of a 50 MB model against crane append, on a loopback registry
	hack/bench-build.sh

bench-list: ## get jobs over 5,000 TFJobs against kubectl get tfjobs, on the test control plane
	KAPTAIN_CONTROL_PLANE=$$(hack/control-plane.sh) KAPTAIN_CRDS=$$(hack/crds.sh) \
		go test -tags integration -count=1 -run '^$$' -bench BenchmarkGetJobs5000 -benchtime 5x -timeout 30m -v ./test/integration

release-snapshot: ## goreleaser check and a snapshot release of every platform into dist/
	$$(hack/tools.sh goreleaser) check
	$$(hack/tools.sh goreleaser) release --snapshot --clean --parallelism 2

release-check: ## The release checks CI runs: snapshot, archive, Krew manifest, krew install
	hack/release-check.sh

krew-manifest: release-snapshot ## Refresh plugins/krew.yaml from GoReleaser's output
	cp dist/krew/kaptain.yaml plugins/krew.yaml

clean:
	rm -rf bin dist
