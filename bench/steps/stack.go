package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/dispatcher"
	"github.com/screenfleet/screenfleet/internal/inferd"
	"github.com/screenfleet/screenfleet/internal/kserve"
	"github.com/screenfleet/screenfleet/internal/natsembed"
	"github.com/screenfleet/screenfleet/internal/sandbox"
	"github.com/screenfleet/screenfleet/internal/worker"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// exampleHost is where the example tasks expect the example site.
const exampleHost = "http://127.0.0.1:8088"

// loadTasks reads the example tasks, pointed at siteURL.
func loadTasks(dir, siteURL string) ([]map[string]any, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no tasks in %s: %v", dir, err)
	}
	var out []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var task map[string]any
		if err := json.Unmarshal([]byte(strings.ReplaceAll(string(data), exampleHost, siteURL)),
			&task); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, task)
	}
	return out, nil
}

// measure starts a stack, runs every task o.runs times, one at a time, and
// returns the stage times of their steps.
func measure(ctx context.Context, o options, dir, agentd string, fullFrames bool,
	tasks []map[string]any) (*samples, error) {
	log := zerolog.Nop()
	ns, err := natsembed.Start(natsembed.Config{DataDir: filepath.Join(dir, "nats")}, log)
	if err != nil {
		return nil, err
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(ns.NATSServer()))
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	inf, err := inferd.Start(ctx, inferd.Config{GRPCAddr: "127.0.0.1:0"}, log)
	if err != nil {
		return nil, err
	}
	defer func() { _ = inf.Stop() }()
	client, err := kserve.Dial(ctx, inf.GRPCAddr())
	if err != nil {
		return nil, err
	}
	defer func() { _ = client.Close() }()
	w, err := worker.Start(ctx, worker.Config{Conn: nc, FullFrames: fullFrames, BackendAddr: inf.GRPCAddr()},
		client, log)
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop(context.WithoutCancel(ctx)) }()
	// The baseline's agents send PNG, the fast ones their default (sfraw).
	var env []string
	if fullFrames {
		env = []string{"SF_FRAME_CODEC=" + messages.CodecPNG}
	}
	rt, err := sandbox.NewProcess(sandbox.ProcessConfig{AgentdPath: agentd,
		WorkRoot: filepath.Join(dir, "sandboxes"), Env: env}, log)
	if err != nil {
		return nil, err
	}
	d, err := dispatcher.New(dispatcher.Config{NATSURL: ns.ClientURL(), Conn: nc, MaxSandboxes: 1,
		Runtime: rt}, log)
	if err != nil {
		return nil, err
	}
	if err := d.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = d.Stop(context.WithoutCancel(ctx)) }()
	return runTasks(ctx, o, nc, tasks, fullFrames)
}

// runTasks submits each task o.runs times and collects its steps.
func runTasks(ctx context.Context, o options, nc *nats.Conn, tasks []map[string]any,
	fullFrames bool) (*samples, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	s := newSamples()
	for r := 0; r < o.runs; r++ {
		for _, task := range tasks {
			id := fmt.Sprintf("%v-%v-%d", task["id"], fullFrames, r)
			task["id"] = id
			st, err := runTask(ctx, js, task, o.timeout)
			task["id"] = strings.TrimSuffix(id, fmt.Sprintf("-%v-%d", fullFrames, r))
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(os.Stderr, "steps:   %s %s in %d steps\n", id, st.State, len(st.Steps))
			if st.State != messages.StateSucceeded {
				return nil, fmt.Errorf("task %s %s: %s", id, st.State, st.Error)
			}
			s.add(st.Steps)
		}
	}
	return s, nil
}

// runTask submits task and waits for its final state.
func runTask(ctx context.Context, js jetstream.JetStream, task map[string]any,
	limit time.Duration) (messages.TaskStatus, error) {
	var st messages.TaskStatus
	payload, err := json.Marshal(task)
	if err != nil {
		return st, err
	}
	id := fmt.Sprint(task["id"])
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if _, err := js.Publish(ctx, messages.NewSubjects("").TaskSubmit(), payload,
		jetstream.WithMsgID(id)); err != nil {
		return st, fmt.Errorf("submit %s: %w", id, err)
	}
	kv, err := js.KeyValue(ctx, messages.TasksBucket)
	if err != nil {
		return st, err
	}
	for {
		if e, err := kv.Get(ctx, id); err == nil {
			if err := messages.Decode(e.Value(), &st); err != nil {
				return st, err
			}
			if st.State.Final() {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("task %s not final (state %q): %w", id, st.State, ctx.Err())
		case <-time.After(100 * time.Millisecond): // polling interval of the KV state
		}
	}
}
