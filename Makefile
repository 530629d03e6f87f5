# screenfleet: `make demo` runs the example tasks on Firefox, `make test` runs every test.
GO       ?= go
BIN      := bin
# OpenMP threads make Tesseract 3-4x slower on small machines; the variable must
# be in the environment when a process starts.
export OMP_THREAD_LIMIT := 1

.PHONY: all deps build demo test test-short fuzz proto vet fmt clean images test-images

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

# Each decoder of outside data is fuzzed briefly; FUZZTIME=1m for longer runs.
FUZZTIME ?= 15s
fuzz:
	$(GO) test ./pkg/messages -run '^$$' -fuzz FuzzDecodeTask -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz FuzzDecodeFrame -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz FuzzDecodeDetections -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz FuzzDecodeProgress -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz FuzzDecodeAssignReply -fuzztime $(FUZZTIME)
	$(GO) test ./pkg/messages -run '^$$' -fuzz FuzzDecodeTaskStatus -fuzztime $(FUZZTIME)
	$(GO) test ./internal/agent -run '^$$' -fuzz FuzzDecodeAssignment -fuzztime $(FUZZTIME)
	$(GO) test ./internal/ocr -run '^$$' -fuzz FuzzCheckImage -fuzztime $(FUZZTIME)
	$(GO) test ./internal/kserve -run '^$$' -fuzz FuzzDecodeBytesTensor -fuzztime $(FUZZTIME)
	$(GO) test ./internal/kserve -run '^$$' -fuzz FuzzDecodeBoxesRequest -fuzztime $(FUZZTIME)
	$(GO) test ./internal/kserve -run '^$$' -fuzz FuzzDecodeBoxesResponse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/inferd -run '^$$' -fuzz FuzzModelInfer -fuzztime $(FUZZTIME)
	$(GO) test ./internal/target -run '^$$' -fuzz FuzzSelect -fuzztime $(FUZZTIME)

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
