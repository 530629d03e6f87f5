# screenfleet: `make demo` runs the example tasks on Firefox, `make test` runs every test.
GO       ?= go
BIN      := bin
# OpenMP threads make Tesseract 3-4x slower on small machines; the variable must
# be in the environment when a process starts.
export OMP_THREAD_LIMIT := 1

.PHONY: all deps build demo test test-short fuzz faults proto vet fmt clean images test-images

all: build

deps:
	./scripts/install-deps.sh

build:
	$(GO) build -o $(BIN)/ ./cmd/...

demo: deps build
	$(BIN)/sfctl demo --tasks examples/tasks --site examples/site

test: deps build test-images
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

# The container images (sandbox, dispatcher, worker, inferd, nats); works with no
# registry by bootstrapping the Debian base (images/build.sh).
images:
	./images/build.sh

# test/docker runs against the local engine with these images; where no
# engine answers it skips, and so does this.
test-images:
	@if docker info >/dev/null 2>&1; then ./images/build.sh; \
	else echo "no docker engine: images not built, test/docker will skip"; fi

test-short:
	$(GO) test -short -count=1 ./...

# Each decoder of outside data is fuzzed briefly; FUZZTIME=1m for longer runs
# (.ci/run does, after make test: about 15 minutes for the 13 fuzzers).
FUZZTIME ?= 15s
# package:fuzzer, one per decoder of outside data.
FUZZERS = pkg/messages:FuzzDecodeTask pkg/messages:FuzzDecodeFrame pkg/messages:FuzzDecodeDetections \
	pkg/messages:FuzzDecodeProgress pkg/messages:FuzzDecodeAssignReply pkg/messages:FuzzDecodeTaskStatus \
	internal/agent:FuzzDecodeAssignment internal/ocr:FuzzCheckImage internal/kserve:FuzzDecodeBytesTensor \
	internal/kserve:FuzzDecodeBoxesRequest internal/kserve:FuzzDecodeBoxesResponse \
	internal/inferd:FuzzModelInfer internal/target:FuzzSelect pkg/rawframe:FuzzDecode
# GOMEMLIMIT: some mutated msgpack inputs make the decoder allocate large
# short-lived buffers; with the default GC pacing a fuzz worker's heap then
# grew past 15 GB in a minute and the worker died ("hung or terminated
# unexpectedly"). A soft limit keeps it under 1 GB (measured).
fuzz:
	set -e; for f in $(FUZZERS); do \
		GOMEMLIMIT=1GiB $(GO) test ./$${f%%:*} -run '^$$' -fuzz "^$${f#*:}\$$" -fuzztime $(FUZZTIME); \
	done

# Tasks run while agents, the worker, inferd, the NATS server and the
# dispatcher are SIGKILLed (test/faults); make test runs it at its small
# default size, without dispatcher kills (each costs the 60 s ack wait).
FAULT_TASKS ?= 60
FAULT_KILLS ?= 40
FAULT_DISPATCHER_KILLS ?= 2
faults: deps
	$(GO) test -count=1 -timeout 30m -v -run TestTasksSurviveKills ./test/faults \
		-args -tasks $(FAULT_TASKS) -kills $(FAULT_KILLS) -dispatcher-kills $(FAULT_DISPATCHER_KILLS)

proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I proto \
		--go_out=. --go_opt=module=github.com/screenfleet/screenfleet \
		--go-grpc_out=. --go-grpc_opt=module=github.com/screenfleet/screenfleet \
		proto/inference/grpc_service.proto

vet:
	$(GO) vet ./...
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"

clean:
	rm -rf $(BIN)

# The inference tier's load benchmark (bench/): a few minutes; the numbers
# and how to read them are in BENCHMARKS.md. BENCHFLAGS=-v adds per-worker
# counts.
.PHONY: bench
bench:
	$(GO) run ./bench $(BENCHFLAGS)

# The step loop on the example tasks in Firefox (bench/steps): per-step
# stage latency, region cache against full frames; about 3 minutes. The
# numbers are in BENCHMARKS.md.
.PHONY: bench-steps
bench-steps: deps
	$(GO) run ./bench/steps $(STEPSFLAGS)
