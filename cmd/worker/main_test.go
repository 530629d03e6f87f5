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
