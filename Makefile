# Foresight's build. `make run` shows the main job on an embedded trace;
# `make test` installs what the tests need and runs them.

GO            ?= go
# Tools are cached outside the clone, keyed on their versions, so that CI's
# fresh clones reuse them.
CACHE_DIR     ?= $(HOME)/.cache/foresight
GOLANGCI_VER  ?= v2.15.0
GOLANGCI_LINT := $(CACHE_DIR)/golangci-lint-$(GOLANGCI_VER)/golangci-lint
PYTHON        ?= /usr/bin/python3
# Debian packages the tests use: statsmodels is the numerical reference
# for Holt-Winters; Prometheus (with promtool) and VictoriaMetrics are the
# real TSDBs that internal/tsdbtest starts; Alertmanager routes alerts to
# foresight enrich in its tests.
TEST_DEBS     := python3-statsmodels prometheus victoria-metrics protobuf-compiler prometheus-alertmanager
# Code generators for proto/, cached by version.
PROTOC_GEN_GO      ?= v1.36.12
PROTOC_GEN_GO_GRPC ?= v1.5.1
PROTOC_PLUGINS     := $(CACHE_DIR)/protoc-plugins-$(PROTOC_GEN_GO)-$(PROTOC_GEN_GO_GRPC)
FUZZTIME      ?= 20s
# The container image: `make image` tags it foresight:$(IMAGE_TAG).
IMAGE_TAG     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
KIND_CLUSTER  ?= foresight-e2e
KEDA_CHART_VERSION ?= 2.21.0
KIND_KUBECONFIG    := $(CURDIR)/bin/kind-kubeconfig

.PHONY: all build run test test-deps reference bench fuzz lint lint-fix unused accuracy conformance e2e proto proto-check clean

all: build

build:
	$(GO) build -o bin/foresight ./cmd/foresight

## run: replay the embedded demo trace through the forecast and the scaling policy
run:
	$(GO) run ./cmd/foresight backtest

## test: install the test dependencies, then run every test
test: test-deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(MAKE) reference
	$(MAKE) proto-check

## test-deps: install missing Debian packages the tests need (as root), build Thanos (cached)
test-deps:
	@missing=""; for p in $(TEST_DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" -ne 0 ]; then echo "run as root, or: sudo apt-get install -y$$missing" >&2; exit 1; fi; \
	  (apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing)) >/dev/null; \
	fi
	@# Thanos is not packaged by Debian: built once from internal/tsdbtest/thanos
	@# (about 5 minutes cold, cached in $(HOME)/.cache/foresight).
	@internal/tsdbtest/thanos/build.sh >/dev/null

## reference: regenerate the statsmodels reference vectors and check that the committed ones match
reference: test-deps
	mkdir -p $(CACHE_DIR)
	$(PYTHON) forecast/testdata/statsmodels_reference.py > $(CACHE_DIR)/statsmodels_reference.json
	$(PYTHON) forecast/testdata/statsmodels_reference.py --compare forecast/testdata/statsmodels_reference.json $(CACHE_DIR)/statsmodels_reference.json

$(PROTOC_PLUGINS)/protoc-gen-go-grpc:
	mkdir -p $(PROTOC_PLUGINS)
	GOBIN=$(PROTOC_PLUGINS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO)
	GOBIN=$(PROTOC_PLUGINS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC)

## proto: regenerate the Go code of proto/ (committed)
proto: $(PROTOC_PLUGINS)/protoc-gen-go-grpc test-deps
	PATH=$(PROTOC_PLUGINS):$$PATH protoc --proto_path=proto \
	  --go_out=proto --go_opt=paths=source_relative \
	  --go-grpc_out=proto --go-grpc_opt=paths=source_relative \
	  foresight/v1/forecasts.proto

## proto-check: the committed generated code is what proto/ generates
proto-check: proto
	git diff --exit-code -- proto/ || (echo "proto/: generated code is stale: run make proto and commit" >&2; exit 1)

## bench: the performance targets (one core, as the targets are stated)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./forecast/ ./policy/ ./anomaly/ ./kedaload/
	$(GO) test -run '^$$' -bench . -benchmem ./enrich/logselect/
	$(GO) test -run '^$$' -bench . -benchtime 1x ./enrich/
	$(GO) test -run '^$$' -bench . -benchmem ./approval/

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzRead -fuzztime $(FUZZTIME) ./csvseries/
	$(GO) test -run '^$$' -fuzz FuzzDetectSeason -fuzztime $(FUZZTIME) ./forecast/
	$(GO) test -run '^$$' -fuzz FuzzFit -fuzztime $(FUZZTIME) ./forecast/
	$(GO) test -run '^$$' -fuzz FuzzParseConfig -fuzztime $(FUZZTIME) ./anomaly/
	$(GO) test -run '^$$' -fuzz FuzzReadLabels -fuzztime $(FUZZTIME) ./anomaly/nab/
	$(GO) test -run '^$$' -fuzz FuzzReadSpec -fuzztime $(FUZZTIME) ./anomaly/rules/
	$(GO) test -run '^$$' -fuzz FuzzParseWebhook -fuzztime $(FUZZTIME) ./enrich/
	$(GO) test -run '^$$' -fuzz FuzzRedact -fuzztime $(FUZZTIME) ./enrich/redact/
	$(GO) test -run '^$$' -fuzz FuzzCheck -fuzztime $(FUZZTIME) ./enrich/suggest/
	$(GO) test -run '^$$' -fuzz FuzzParseTargets -fuzztime $(FUZZTIME) ./metricsapi/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME) ./remediate/
	$(GO) test -run '^$$' -fuzz FuzzVerify -fuzztime $(FUZZTIME) ./approval/
	$(GO) test -run '^$$' -fuzz FuzzParseInteraction -fuzztime $(FUZZTIME) ./approval/

## conformance: drive foresight's scaler with KEDA's own client (plaintext and mTLS); its own module in
## e2e/, since KEDA's client pulls in Kubernetes (about 7 minutes to build cold, seconds after)
conformance:
	cd e2e && $(GO) vet ./... && $(GO) test -count=1 .

## e2e: the end-to-end suite: KEDA's client conformance, then the scenarios on a real control plane
## (kube-apiserver, kube-controller-manager, KEDA, VictoriaMetrics; needs root for a network namespace).
## The control plane's binaries are built once into $(CACHE_DIR) (about 9 minutes on 2 cores), then reused.
e2e: test-deps
	cd e2e && $(GO) vet ./... && $(GO) test -count=1 -timeout 45m -parallel 16 -v ./...

## accuracy: print the walk-forward accuracy and scaling tables of the shared traces
accuracy:
	$(GO) test -count=1 -run 'TestAccuracyAgainstStatsmodels|TestScalingOutcome' -v ./backtest/ | grep -v '^=== RUN'

$(GOLANGCI_LINT):
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VER)

## lint: golangci-lint with .golangci.yml, on the main module and the e2e, charts and image modules
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...
	for m in e2e charts image; do (cd $$m && $(GOLANGCI_LINT) run --config ../.golangci.yml ./...) || exit 1; done

lint-fix: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run --fix ./...

## unused: go.mod and go.sum are tidy
unused:
	$(GO) mod tidy
	cd e2e && $(GO) mod tidy
	git diff --exit-code -- go.mod go.sum e2e/go.mod e2e/go.sum

## chart-test: render charts/foresight with Helm's Go SDK and check it (charts/ is its own module,
## so that Helm's dependencies stay out of go.mod); runs the real binary with the chart's arguments
chart-test:
	cd charts && $(GO) vet ./... && $(GO) test -count=1 ./...

## image: foresight's container image as bin/foresight-image.tar, an OCI image layout that docker load
## and kind load also read, built without a container engine (image/: go-containerregistry)
image:
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -buildvcs=auto -ldflags='-s -w' -o bin/foresight-static ./cmd/foresight
	cd image && $(GO) run . --binary ../bin/foresight-static --ref foresight:$(IMAGE_TAG) --out ../bin/foresight-image.tar

## image-test: build the image tarball, unpack it and run the binary found in it
image-test:
	cd image && $(GO) vet ./... && $(GO) test -count=1 ./...

## e2e-kind: the e2e scenarios on a kind cluster, with KEDA and the chart installed by Helm; needs
## Docker, kind, helm and kubectl (it cannot run on machines without a Docker engine)
e2e-kind: image
	kind get clusters | grep -qx $(KIND_CLUSTER) || kind create cluster --name $(KIND_CLUSTER) --wait 180s
	kind get kubeconfig --name $(KIND_CLUSTER) > $(KIND_KUBECONFIG)
	kind load image-archive bin/foresight-image.tar --name $(KIND_CLUSTER)
	helm repo add kedacore https://kedacore.github.io/charts --force-update
	helm upgrade --install keda kedacore/keda --version $(KEDA_CHART_VERSION) --namespace keda --create-namespace \
	  --wait --timeout 5m --kubeconfig $(KIND_KUBECONFIG)
	kubectl --kubeconfig $(KIND_KUBECONFIG) create namespace foresight --dry-run=client -o yaml | kubectl --kubeconfig $(KIND_KUBECONFIG) apply -f -
	kubectl --kubeconfig $(KIND_KUBECONFIG) apply -f charts/kind/victoriametrics.yaml
	helm upgrade --install foresight charts/foresight --namespace foresight -f charts/foresight/ci/kind-values.yaml \
	  --set image.tag=$(IMAGE_TAG) --wait --timeout 5m --kubeconfig $(KIND_KUBECONFIG)
	cd e2e && FORESIGHT_E2E_KUBECONFIG=$(KIND_KUBECONFIG) $(GO) test -count=1 -timeout 45m -parallel 16 -v ./...

.PHONY: chart-test image image-test e2e-kind

clean:
	rm -rf bin
