# The two commands of the quick start are `make run` and `make test`.
SHELL := /bin/bash
SQLC_VERSION := v1.31.1
TOOLS := $(CURDIR)/bin/tools
SQLC := $(TOOLS)/sqlc-$(SQLC_VERSION)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DB_NAME ?= crm
GO_TEST_FLAGS ?= -count=1 -timeout 15m

.PHONY: help build run test test-faults bench generate check-generated lint services db clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

build: ## build bin/crm
	go build -ldflags "-X main.version=$(VERSION)" -o bin/crm ./cmd/crm

services: ## make sure PostgreSQL and Redis are running (start or install them)
	@.ci/services

db: services ## create the database $(DB_NAME) when missing
	@psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(DB_NAME)'" | grep -q 1 \
		|| { echo "creating database $(DB_NAME)"; createdb -h 127.0.0.1 -U postgres $(DB_NAME); }

run: build db ## serve http://localhost:8080 (demo leads in an empty database)
	./bin/crm migrate
	./bin/crm seed-demo -if-empty
	./bin/crm serve

test: services ## run every test against the real PostgreSQL, Redis and chromium
	go test $(GO_TEST_FLAGS) ./...

test-faults: services ## fault and scale-out tests: real crm processes, private Redis and PostgreSQL stopped and started, workers killed (a few minutes)
	go test -tags faults -count=1 -timeout 20m -run 'TestFault|TestScale' ./cmd/crm

bench: build services ## benchmarks: HTTP throughput, latency and server RSS at 1k and 10k leads
	go test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./cmd/crm

$(SQLC):
	GOBIN=$(TOOLS) go install github.com/sqlc-dev/sqlc/cmd/sqlc@$(SQLC_VERSION)
	mv $(TOOLS)/sqlc $(SQLC)

generate: $(SQLC) ## regenerate the sqlc and templ code
	$(SQLC) generate
	go tool templ generate -path views

check-generated: generate ## fail when committed generated code differs from the generators' output
	@if [ -n "$$(git status --porcelain -- queries views)" ]; then \
		echo "generated code is out of date; run make generate and commit:"; \
		git status --porcelain -- queries views; git --no-pager diff --stat -- queries views; exit 1; fi
	@echo "generated code is up to date"

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...
	go vet -tags faults ./cmd/crm

clean: ## remove build output
	rm -rf bin
