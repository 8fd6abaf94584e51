# Everything runs on Node 24 from node_modules (the npm package node@24); the machine's Node 20 only runs npm.
NODE := ./node_modules/.bin/node
# V8's compile cache for every Node process started from here (test files and the services they
# start): a module loaded again compiles in about half the time.
export NODE_COMPILE_CACHE := $(CURDIR)/.cache/node-compile
STACK := bash scripts/stack

.PHONY: install build image image-background typecheck lint format stack-up stack-down stack-status up down test test-unit test-integration faults bench config-reference

install: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: install
	npm run build

## image: docker/Dockerfile built with Podman (installs Podman from Debian if missing; caches a stand-in base)
image: install
	bash scripts/image

typecheck: install
	npm run typecheck

## lint: the formatter's check and the linter (biome), warnings included; `make format` rewrites
lint: install
	./node_modules/.bin/biome ci --error-on-warnings .

format: install
	./node_modules/.bin/biome check --write .

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

stack-status:
	$(STACK) status

## up: local stack + source + sink + a demo table flowing into Elasticsearch
up: install stack-up
	bash scripts/demo up

down:
	-bash scripts/demo down
	$(STACK) down

test-unit: install
	$(NODE) --test --test-concurrency=1 'test/unit/**/*.test.ts'

test-integration: install
	$(NODE) --test --test-concurrency=1 --test-timeout=600000 'test/integration/**/*.test.ts'

## image-background: starts building the image in the background (log: .image-build.log); the image suite's own build waits for it
image-background: install
	nohup bash scripts/image >.image-build.log 2>&1 &

## test: installs what is missing, starts the image build (apt, debootstrap and npm downloads overlap the checks and the stack's start), starts the stack once, runs every suite, always stops the stack
test: install image-background lint
	npm run typecheck
	$(STACK) up
	status=0; \
	$(NODE) --test --test-concurrency=1 --test-timeout=600000 'test/unit/**/*.test.ts' 'test/integration/**/*.test.ts' || status=$$?; \
	$(STACK) down; \
	exit $$status

## faults: the long seeded fault-injection run (docs/faults.md): FAULTS_SEED=… replays a run, FAULTS_SECONDS=… sets its length
faults: install
	$(STACK) up
	status=0; \
	$(NODE) test/faults/main.ts || status=$$?; \
	$(STACK) down; \
	exit $$status

## bench: end-to-end and baseline rates on this machine (not part of test)
bench: install stack-up
	$(NODE) bench/run.ts

config-reference: install
	$(NODE) src/cli.ts config-reference > docs/configuration.md
	$(NODE) src/cli.ts error-codes > docs/errors.md
