# tagdrift: `make help` lists the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# -p 1: the end-to-end packages each start etcd and API servers; on 2 cores, one at a time
# is steadier than all at once. -race: every package runs under the data race detector,
# and the e2e tests build the tagdrift binary they start with it too (docs/development.md
# gives what it costs).
GO_TEST_FLAGS ?= -count=1 -timeout 45m -p 1 -race

.PHONY: help build serve demo test test-unit bench bench-smoke bench-api lint generate

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/tagdrift
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/tagdrift ./cmd/tagdrift

serve: ## run tagdrift serve locally (installs and starts PostgreSQL, makes a key in .tagdrift/key)
	hack/serve-local.sh $(ARGS)

demo: ## the demo without Docker: two clusters (one on a real node), a registry, PostgreSQL, tagdrift serve and a real mutation; Ctrl-C stops it
	@eval "$$(hack/test-deps.sh)" && \
		echo "demo: building bin/tagdrift and bin/tagdrift-demo (the first time about 5 minutes on 2 cores, with the Go modules it downloads)" && \
		CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/tagdrift ./cmd/tagdrift 2> >(grep -v '^go: downloading' >&2) && \
		go build -o bin/tagdrift-demo ./cmd/tagdrift-demo 2> >(grep -v '^go: downloading' >&2) && \
		exec bin/tagdrift-demo local --tagdrift bin/tagdrift $(ARGS)

test: ## run every test, end to end included (installs etcd and Chromium, builds the Kubernetes binaries and the notification receivers when missing)
	eval "$$(BROWSER=1 RECEIVERS=1 hack/test-deps.sh)" && go test $(GO_TEST_FLAGS) ./...

test-unit: ## run every test but the end-to-end ones (e2e/): no Kubernetes binaries; PostgreSQL, installed and started when missing
	eval "$$(SKIP_KUBE=1 RECEIVERS=1 hack/test-deps.sh)" && go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v '/e2e')

bench: ## run the benchmarks: detection, scan vs bare list, scan writes, a 200-cluster round, watches (memory per pod, real informers at 100,000 pods, hostile clusters, detection), a fleet's notifications, a bad-token flood during scans, the API
	go test -run '^$$' -bench . -skip 'HostileWatches|InformerMemory' -benchmem -count 5 ./scanner/...
	go test -run '^$$' -bench HostileWatches -benchtime 1x -count 3 ./scanner/watch/
	eval "$$(hack/test-deps.sh)" && go run ./hack/benchscan && \
		go test -run '^$$' -bench InformerMemory -benchtime 1x -count 1 -timeout 30m ./scanner/watch/ && \
		go test -run '^$$' -bench ScanWrites -count 5 ./store/ && \
		go test -run '^$$' -bench Round200 -benchtime 3x -count 1 ./scheduler/ && \
		go test -run '^$$' -bench WatchDetection -benchtime 1x -count 1 ./scheduler/ && \
		go test -run '^$$' -bench NotifyFleet -benchtime 5x -benchmem -count 1 ./scheduler/ && \
		go test -run '^$$' -bench BadTokenFlood -benchtime 5x -count 1 ./server/
	$(MAKE) bench-api

bench-smoke: ## run every benchmark once at a small size, so that none stops working unseen (CI runs it; about 2 minutes)
	TAGDRIFT_WATCH_BENCH_PODS=1000 go test -run '^$$' -bench . -skip 'HostileWatches|InformerMemory' -benchtime 1x ./scanner/... ./server/access/password/
	go test -run '^$$' -bench 'HostileWatches/^(huge|bigpods|bigevent|empty|emptyevent)$$' -benchtime 1x ./scanner/watch/
	eval "$$(hack/test-deps.sh)" && \
		TAGDRIFT_WATCH_INFORMER_PODS=500 TAGDRIFT_WATCH_INFORMER_ROUNDS=1 go test -run '^$$' -bench InformerMemory -benchtime 1x ./scanner/watch/ && \
		TAGDRIFT_NOTIFY_BENCH_WORKLOADS=5 TAGDRIFT_WATCH_BENCH_CLUSTERS=2 TAGDRIFT_WATCH_BENCH_ROUNDS=2 go test -run '^$$' -bench . -benchtime 1x ./store/ ./scheduler/ ./server/ && \
		TAGDRIFT_UI_BENCH_WORKLOADS=100 go test -run '^$$' -bench UIPages -benchtime 1x ./hack/benchapi/ && \
		go run ./hack/benchapi -rows 100000 -workloads 1000 -rounds 1 -requests 100 -warmup 20 -max-time 5s && \
		go run ./hack/benchscan -pods 200 -rounds 1

bench-api: ## measure the REST API at 1,000,000 and 10,000,000 observation rows, cached and uncached (about 5 minutes)
	eval "$$(SKIP_KUBE=1 hack/test-deps.sh)" && go run ./hack/benchapi -rows 1m,10m -rounds 3 -requests 3000 -max-time 10s

lint: ## gofmt, go vet and staticcheck (CI also runs govulncheck)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...

generate: ## regenerate generated code (templ components: web/*_templ.go, committed)
	go tool templ generate
	go generate ./...
