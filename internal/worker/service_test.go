package worker_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/screenfleet/screenfleet/internal/worker"
)

// A worker registers as a NATS service (what `nats micro ls` and `nats micro
// stats` read): its GPU and batching in the metadata, one endpoint per model
// naming the model's subject, and stats whose data carry the frames served,
// the mean batch and latency percentiles. A stopped worker is gone from it.
func TestRegistersAsNATSService(t *testing.T) {
	url := startNATS(t)
	nc := connect(t, url)
	b := newFakeBackend(true)
	b.latency = 5 * time.Millisecond
	w, _ := startWorker(t, worker.Config{NATSURL: url, GPU: "GPU-5b2c", MaxBatch: 4}, b)
	waitReady(t, w)
	for i := range 5 {
		assertOK(t, nc, uint64(i))
	}

	var info micro.Info
	requestJSON(t, nc, "$SRV.INFO."+worker.ServiceName, &info)
	if info.Name != worker.ServiceName || info.Metadata["gpu"] != "GPU-5b2c" || info.Metadata["worker"] != "w1" ||
		info.Metadata["max_batch"] != "4" || len(info.Endpoints) != 1 ||
		info.Endpoints[0].Metadata["model"] != "ocr" || info.Endpoints[0].Metadata["subject"] != "sf.infer.ocr.*" {
		t.Fatalf("service info %+v", info)
	}
	var stats micro.Stats
	requestJSON(t, nc, "$SRV.STATS."+worker.ServiceName, &stats)
	var data worker.ModelStatus
	if len(stats.Endpoints) != 1 || json.Unmarshal(stats.Endpoints[0].Data, &data) != nil {
		t.Fatalf("service stats %+v", stats)
	}
	if !data.Ready || data.Frames["ok"] != 5 || data.Batches != 5 || data.MeanBatch != 1 ||
		data.P50Ms < 5 || data.P99Ms < data.P50Ms || data.Adapter != "boxes" {
		t.Fatalf("endpoint data %+v", data)
	}
	var status worker.ModelStatus
	requestJSON(t, nc, info.Endpoints[0].Subject, &status)
	if status.Model != "ocr" || status.Frames["ok"] != 5 {
		t.Fatalf("status endpoint %+v", status)
	}

	if err := w.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Request("$SRV.PING."+worker.ServiceName, nil, 200*time.Millisecond); err == nil {
		t.Fatal("a stopped worker still answers service discovery")
	}
}

// requestJSON asks subj once and decodes the JSON reply into v.
func requestJSON(t *testing.T, nc *nats.Conn, subj string, v any) {
	t.Helper()
	msg, err := nc.Request(subj, nil, 2*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", subj, err)
	}
	if err := json.Unmarshal(msg.Data, v); err != nil {
		t.Fatalf("decode %s reply %s: %v", subj, msg.Data, err)
	}
}

// A worker bound to a GPU on a host without NVIDIA's management library
// says so once and serves frames all the same.
func TestGPUWithoutNVML(t *testing.T) {
	if libs, _ := filepath.Glob("/usr/lib/*/libnvidia-ml.so*"); len(libs) > 0 {
		t.Skip("NVIDIA management library present: this host reports GPU metrics")
	}
	url := startNATS(t)
	nc := connect(t, url)
	w, logs := startWorker(t, worker.Config{NATSURL: url, GPU: "0"}, newFakeBackend(true))
	waitReady(t, w)
	d := assertOK(t, nc, 1)
	if d.GPU != "0" || logs.count("gpu_metrics_off") != 1 {
		t.Fatalf("reply gpu %q, gpu_metrics_off logged %d times", d.GPU, logs.count("gpu_metrics_off"))
	}
}
