# AppWarden build targets. `make package` builds the deployment package (the
# custom handler, ./handler, only); `make cli` builds the operator CLI
# (./handler/cmd/appwarden); tests/run is the test suite (the README's test
# command).

GO ?= go
NODE ?= node
# Everything the package target writes goes under DIST (tests point it at a
# temporary directory).
DIST ?= dist
STAGING := $(DIST)/package
ZIP := $(DIST)/appwarden.zip
# Optional policy file copied into the package as policy.yaml (then deploy
# with policyFile=policy.yaml).
POLICY ?=

# A clone without .git metadata (or without git) still builds.
GOFLAGS ?= -buildvcs=false
export GOFLAGS

# One folder per function: the function-app/<Name>/function.json files.
FUNCTIONS := $(patsubst function-app/%/function.json,%,$(wildcard function-app/*/function.json))

.PHONY: help package cli bicep test clean

help:
	@echo "make package   build $(ZIP) (linux/amd64 static handler, host.json, one folder per function)"
	@echo "make cli       build $(DIST)/appwarden, the operator CLI, for this machine"
	@echo "make bicep     syntax-check every infra/*.bicep file (needs npm ci in tests/)"
	@echo "make test      run the whole test suite (tests/run)"
	@echo "make clean     remove $(DIST)/"

# The package layout the Functions host expects: host.json at the root, one
# folder per function with its function.json, and the custom handler
# executable named in host.json (defaultExecutablePath: handler), mode 0755.
package:
	rm -rf "$(STAGING)" "$(ZIP)"
	mkdir -p "$(STAGING)"
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags='-s -w' -o "$(STAGING)/handler" ./handler
	cp host.json "$(STAGING)/host.json"
	for f in $(FUNCTIONS); do mkdir -p "$(STAGING)/$$f" && cp "function-app/$$f/function.json" "$(STAGING)/$$f/function.json"; done
	if [ -n "$(POLICY)" ]; then cp "$(POLICY)" "$(STAGING)/policy.yaml"; fi
	find "$(STAGING)" -type d -exec chmod 0755 {} +
	find "$(STAGING)" -type f -exec chmod 0644 {} +
	chmod 0755 "$(STAGING)/handler"
	$(GO) run ./tests/tools/mkzip -o "$(ZIP)" "$(STAGING)"
	@echo "built $(ZIP)"

# The operator CLI, for this machine. It is not part of the package: the
# function app runs only the custom handler.
cli:
	mkdir -p "$(DIST)"
	$(GO) build -trimpath -o "$(DIST)/appwarden" ./handler/cmd/appwarden
	@echo "built $(DIST)/appwarden"

bicep:
	$(NODE) tests/bicep/parse.mjs infra

test:
	./tests/run

clean:
	rm -rf "$(DIST)"
