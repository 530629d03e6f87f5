package main

import (
	"slices"
	"testing"
)

func TestParseFlagsReadsFlagsAndEnvironment(t *testing.T) {
	t.Setenv("SF_GPU", "GPU-1234")
	t.Setenv("SF_MAX_IN_FLIGHT", "3")
	o, err := parseFlags([]string{"--models", "ocr, elements,", "--backend", "10.0.0.5:8001"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.GPU != "GPU-1234" || c.MaxInFlight != 3 || c.BackendAddr != "10.0.0.5:8001" {
		t.Fatalf("config = %+v", c)
	}
	if !slices.Equal(c.Models, []string{"ocr", "elements"}) {
		t.Fatalf("models = %q", c.Models)
	}
	if c.HTTPAddr != "127.0.0.1:9103" || c.SubjectPrefix != "sf" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestParseFlagsRejectsStrayArguments(t *testing.T) {
	if _, err := parseFlags([]string{"ocr"}); err == nil {
		t.Fatal("no error for a positional argument")
	}
}

func TestParseFlagsBatchingAndAdapters(t *testing.T) {
	o, err := parseFlags([]string{"--max-batch", "16", "--max-wait", "3ms", "--adapter", "det=yolo, ocr=boxes",
		"--labels", "det=/etc/labels.txt", "--yolo-per-class-nms"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.MaxBatch != 16 || c.MaxWait.Milliseconds() != 3 || c.Adapters["det"] != "yolo" ||
		c.Adapters["ocr"] != "boxes" || c.Labels["det"] != "/etc/labels.txt" || !c.YOLO.PerClass ||
		c.YOLO.IoUThreshold != 0.5 {
		t.Fatalf("config = %+v", c)
	}
	if _, err := parseFlags([]string{"--adapter", "det"}); err == nil {
		t.Fatal("no error for an adapter without a kind")
	}
}
