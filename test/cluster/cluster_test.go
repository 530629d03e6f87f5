// Package cluster runs the shape of a fleet past one machine, on loopback:
// a 3-node NATS cluster (nats-server processes, JetStream on file storage)
// whose task stream and bucket have 3 replicas, inferd, two workers, and
// two dispatchers with the process runtime sharing the one task consumer,
// with agentd in Xvfb and xmessage as the app. Mid-run it SIGKILLs the
// NATS node that leads the task stream and then one dispatcher. Afterwards
// every task has exactly one final state and it is a success, both
// dispatchers took tasks while both were up, the dead one's tasks were
// finished by the other, and no process of the run is left.
//
//	go test -v ./test/cluster -args -tasks 24
package cluster

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

var nTasks = flag.Int("tasks", 16, "tasks to run")

const (
	// ackWait is the dispatchers' --ack-wait: the killed dispatcher's
	// tasks come back after it, so it is short here (the default is 60 s)
	// to keep the test within a few minutes.
	ackWait = 15 * time.Second

	// finishLimit bounds the whole run once the tasks are submitted: on 2
	// loaded cores a task takes up to 20 s, sixteen of them run four at a
	// time, and the dead dispatcher's come back after ackWait.
	finishLimit = 3 * time.Minute

	// freshRun is how recently a task must have started running for its
	// dispatcher to be the one killed: well under the 4 s of its steps.
	freshRun = 1500 * time.Millisecond

	clusterName = "sf-cluster-test"
)

// node is one nats-server of the cluster.
type node struct {
	name string // server_name, also the process name
	url  string // client URL
}

func TestClusterSurvivesNodeAndDispatcherLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster and the whole fleet")
	}
	for _, tool := range []string{"Xvfb", "xmessage"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", tool)
		}
	}
	f := newFleet(t)
	// Ports are taken before any connection is made, so that no outgoing
	// connection has been given one of them in the meantime.
	inferdAddr := fmt.Sprintf("127.0.0.1:%d", f.port())
	nodes := f.startNATS(3)
	seeds := func(first int) string { return seedList(nodes, first) }
	js := connect(t, seeds(0))
	waitReplicable(t, js)

	f.startInferenceTier(inferdAddr, seeds)
	dispatchers := f.startDispatchers(seeds)
	ids := submit(t, js, *nTasks)
	tl := watchTasks(t, js, ids)

	waitFor(t, "both dispatchers to run a task", time.Minute, func() bool {
		return len(tl.runningBy(time.Now())) == 2
	})
	f.checkAgentSeeds(t, seeds(0))
	killedNode := f.killStreamLeader(t, js)
	killedDisp, killedAt := f.killBusyDispatcher(t, tl, dispatchers)

	states := waitAllFinal(t, js, ids, finishLimit)
	tl.stop()
	f.stopAll()
	leaked := f.leaked()

	r := report{ids: ids, states: states, tl: tl, killedNode: killedNode, killedDisp: killedDisp,
		killedAt: killedAt, dispatchers: dispatchers, f: f}
	r.log(t)
	r.check(t)
	if len(leaked) > 0 {
		t.Errorf("processes left after the run: %s", strings.Join(leaked, "; "))
	}
}

// seedList is every node's URL, comma-separated, starting at node first:
// the way a client on that node's host would list them.
func seedList(nodes []node, first int) string {
	var urls []string
	for i := range nodes {
		urls = append(urls, nodes[(first+i)%len(nodes)].url)
	}
	return strings.Join(urls, ",")
}

// startNATS starts n nats-servers routed to each other on loopback, each
// with its JetStream store under root, and waits until each takes clients.
func (f *fleet) startNATS(n int) []node {
	f.t.Helper()
	clientPorts, routePorts := make([]int, n), make([]int, n)
	var routes []string
	for i := range n {
		clientPorts[i], routePorts[i] = f.port(), f.port()
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i]))
	}
	var nodes []node
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:%d\njetstream { store_dir: %q }\n"+
			"cluster { name: %s, listen: 127.0.0.1:%d, routes: [%s] }\n", name, clientPorts[i],
			filepath.Join(f.root, "js-"+name), clusterName, routePorts[i], strings.Join(routes, ", "))
		path := filepath.Join(f.root, name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			f.t.Fatal(err)
		}
		f.start("nats-"+name, "nats-server", nil, "-c", path)
		nodes = append(nodes, node{name: name, url: fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i])})
	}
	for _, nd := range nodes {
		if !waitUntil(30*time.Second, func() bool { return canConnect(nd.url) }) {
			f.t.Fatalf("nats-server %s does not take clients", nd.name)
		}
	}
	return nodes
}

func canConnect(url string) bool {
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		return false
	}
	nc.Close()
	return true
}

// waitReplicable waits until the cluster can place a stream with 3
// replicas: JetStream has a meta leader and every node has joined it.
func waitReplicable(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	cfg := jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: 3}
	ok := waitUntil(time.Minute, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return false
		}
		return js.DeleteStream(ctx, cfg.Name) == nil
	})
	if !ok {
		t.Fatal("the cluster cannot place a stream with 3 replicas")
	}
}

// startInferenceTier starts inferd and two workers, each listing a
// different node first.
func (f *fleet) startInferenceTier(inferd string, seeds func(first int) string) {
	f.start("inferd", "inferd", nil, "--grpc-addr", inferd, "--http-addr", "", "--ocr-workers", "1")
	for i := range 2 {
		name := fmt.Sprintf("worker-%d", i+1)
		f.start(name, "worker", []string{"SF_NATS_URL=" + seeds(i)}, "--id", name, "--backend", inferd,
			"--http-addr", "")
	}
}

// startDispatchers starts two dispatchers with 3 replicas, each listing a
// different node first and each with two sandbox slots, and waits until
// both have started. It returns their ids.
func (f *fleet) startDispatchers(seeds func(first int) string) []string {
	f.t.Helper()
	ids := []string{"disp-a", "disp-b"}
	for i, id := range ids {
		f.start("dispatcher-"+id, "dispatcher", []string{"SF_NATS_URL=" + seeds(i+1)}, "--id", id,
			"--replicas", "3", "--ack-wait", ackWait.String(), "--max-sandboxes", "2", "--max-attempts", "3",
			"--http-addr", "", "--work-root", filepath.Join(f.root, "work-"+id),
			"--agentd", filepath.Join(f.bin, "agentd"), "--log-format", "json")
	}
	for _, id := range ids {
		name := "dispatcher-" + id
		var failed bool
		started := waitUntil(time.Minute, func() bool {
			failed = f.countInLog(name, `"message":"dispatcher failed"`) > 0
			return failed || f.countInLog(name, `"event":"dispatcher_started"`) > 0
		})
		if failed || !started {
			f.t.Fatalf("%s did not start within a minute", name)
		}
	}
	return ids
}

// connect returns a JetStream handle on the cluster that survives the loss
// of the node it is connected to.
func connect(t *testing.T, seeds string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(seeds, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// submit publishes n tasks: each opens xmessage and sleeps through a few
// steps, long enough to be caught by the kills. Shortcoming: no step reads
// the screen, so the workers only show that they ride out the node's loss;
// xmessage's one font here (6x13) is too small for OCR, and Firefox is too
// heavy for a dozen tasks on two cores.
func submit(t *testing.T, js jetstream.JetStream, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("cluster-%d", i)
		task := map[string]any{"id": id, "deadline": "2m",
			"app": map[string]any{"command": []string{"xmessage", "-name", "sf-cluster", id}},
			"steps": []map[string]any{{"action": "sleep", "for": "1s"}, {"action": "sleep", "for": "1s"},
				{"action": "sleep", "for": "1s"}, {"action": "sleep", "for": "1s"}}}
		body, err := json.Marshal(task)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctxFor(t, 10*time.Second), messages.NewSubjects("").TaskSubmit(), body,
			jetstream.WithMsgID(id)); err != nil {
			t.Fatalf("submit %s: %v", id, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkAgentSeeds checks that an agent the dispatchers started got every
// node's URL, so it can reach another node when its own dies.
func (f *fleet) checkAgentSeeds(t *testing.T, seeds string) {
	t.Helper()
	var got string
	if !waitUntil(30*time.Second, func() bool {
		var ok bool
		got, ok = f.agentEnv("SF_NATS_URL")
		return ok
	}) {
		t.Fatal("no running agentd found")
	}
	for _, url := range strings.Split(seeds, ",") {
		if !strings.Contains(got, url) {
			t.Errorf("an agent got SF_NATS_URL %q, which lacks %s", got, url)
		}
	}
}

// killStreamLeader SIGKILLs the node that leads the TASKS stream, the one
// whose loss the task flow feels most, and returns what it led.
func (f *fleet) killStreamLeader(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	leaders := map[string][]string{}
	var victim string
	for _, name := range []string{messages.TasksStream, "KV_" + messages.TasksBucket} {
		s, err := js.Stream(ctxFor(t, 10*time.Second), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" || len(ci.Replicas) != 2 {
			t.Fatalf("stream %s is not led with 2 followers: %+v", name, ci)
		}
		leaders[ci.Leader] = append(leaders[ci.Leader], name)
		if victim == "" {
			victim = ci.Leader
		}
	}
	c, err := js.Consumer(ctxFor(t, 10*time.Second), messages.TasksStream, messages.TasksConsumer)
	if err == nil && c.CachedInfo().Cluster != nil {
		leader := c.CachedInfo().Cluster.Leader
		leaders[leader] = append(leaders[leader], "consumer "+messages.TasksConsumer)
	}
	f.kill("nats-" + victim)
	return fmt.Sprintf("%s (leader of %s)", victim, strings.Join(leaders[victim], ", "))
}

// killBusyDispatcher waits until a task has finished since the node died
// and a dispatcher has just begun running a task, then SIGKILLs that
// dispatcher. A task's steps take 4 s after it is seen running, so one
// seen starting within freshRun is still running at the kill and must be
// taken over.
func (f *fleet) killBusyDispatcher(t *testing.T, tl *timeline, dispatchers []string) (string, time.Time) {
	t.Helper()
	since := time.Now()
	var victim string
	waitFor(t, "a task to finish after the node was killed, and a task to start", time.Minute, func() bool {
		if tl.finishedSince(since) == 0 {
			return false
		}
		for _, d := range dispatchers {
			if tl.startedRecently(d, freshRun) > 0 {
				victim = d
				return true
			}
		}
		return false
	})
	f.kill("dispatcher-" + victim)
	return victim, time.Now()
}

// waitAllFinal waits until every task has a final state and returns each
// task's history of states.
func waitAllFinal(t *testing.T, js jetstream.JetStream, ids []string,
	limit time.Duration) map[string][]messages.TaskStatus {
	t.Helper()
	deadline := time.Now().Add(limit)
	out := map[string][]messages.TaskStatus{}
	for _, id := range ids {
		var lastErr error
		waitUntil(time.Until(deadline), func() bool {
			hist, err := history(js, id)
			if lastErr = err; err == nil && len(finals(hist)) > 0 {
				out[id] = hist
			}
			return out[id] != nil
		})
		if _, ok := out[id]; !ok {
			t.Errorf("task %s lost: no final state after %s (last read: %v)", id, limit, lastErr)
		}
	}
	return out
}

// history reads the task's states from the bucket, oldest first. Each read
// has its own deadline: a read that hangs while the cluster fails over is
// given up and tried again.
func history(js jetstream.JetStream, id string) ([]messages.TaskStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, messages.TasksBucket)
	if err != nil {
		return nil, err
	}
	entries, err := kv.History(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []messages.TaskStatus
	for _, e := range entries {
		var st messages.TaskStatus
		if err := messages.Decode(e.Value(), &st); err != nil {
			return nil, fmt.Errorf("task %s revision %d: %w", id, e.Revision(), err)
		}
		out = append(out, st)
	}
	return out, nil
}

func finals(hist []messages.TaskStatus) []messages.TaskStatus {
	var out []messages.TaskStatus
	for _, st := range hist {
		if st.State.Final() {
			out = append(out, st)
		}
	}
	return out
}

// timeline polls every task's state while the run goes on and keeps, per
// task, when each dispatcher was first and last seen running it.
type timeline struct {
	mu       sync.Mutex
	running  map[string]map[string]span // task -> dispatcher -> when seen running
	now      map[string]string          // task -> dispatcher running it at the last poll
	finished map[string]time.Time       // task -> when first seen final
	done     chan struct{}
	wg       sync.WaitGroup
}

type span struct{ first, last time.Time }

func watchTasks(t *testing.T, js jetstream.JetStream, ids []string) *timeline {
	tl := &timeline{running: map[string]map[string]span{}, now: map[string]string{},
		finished: map[string]time.Time{}, done: make(chan struct{})}
	kv, err := js.KeyValue(ctxFor(t, 10*time.Second), messages.TasksBucket)
	if err != nil {
		t.Fatal(err)
	}
	tl.wg.Go(func() {
		for {
			for _, id := range ids {
				tl.poll(kv, id)
			}
			select {
			case <-tl.done:
				return
			case <-time.After(200 * time.Millisecond): // polling interval
			}
		}
	})
	t.Cleanup(tl.stop)
	return tl
}

func (tl *timeline) poll(kv jetstream.KeyValue, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	e, err := kv.Get(ctx, id)
	if err != nil {
		return // not there yet, or the cluster is electing a leader
	}
	var st messages.TaskStatus
	if messages.Decode(e.Value(), &st) != nil {
		return
	}
	at := time.Now()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	delete(tl.now, id)
	switch {
	case st.State == messages.StateRunning:
		tl.now[id] = st.Dispatcher
		if tl.running[id] == nil {
			tl.running[id] = map[string]span{}
		}
		sp, ok := tl.running[id][st.Dispatcher]
		if !ok {
			sp.first = at
		}
		sp.last = at
		tl.running[id][st.Dispatcher] = sp
	case st.State.Final():
		if _, ok := tl.finished[id]; !ok {
			tl.finished[id] = at
		}
	}
}

func (tl *timeline) stop() {
	select {
	case <-tl.done:
	default:
		close(tl.done)
	}
	tl.wg.Wait()
}

// runningBy counts, per dispatcher, the tasks it was seen running before at.
func (tl *timeline) runningBy(at time.Time) map[string]int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	out := map[string]int{}
	for _, by := range tl.running {
		for d, sp := range by {
			if sp.first.Before(at) {
				out[d]++
			}
		}
	}
	return out
}

// startedRecently counts the tasks dispatcher d ran at the last poll and
// was first seen running less than within ago.
func (tl *timeline) startedRecently(d string, within time.Duration) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for id, by := range tl.now {
		if by == d && time.Since(tl.running[id][d].first) < within {
			n++
		}
	}
	return n
}

// finishedSince counts the tasks first seen final after at.
func (tl *timeline) finishedSince(at time.Time) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, when := range tl.finished {
		if when.After(at) {
			n++
		}
	}
	return n
}

// takenOver returns the tasks seen running under dispatcher from and
// afterwards under another one.
func (tl *timeline) takenOver(from string) []string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var out []string
	for id, by := range tl.running {
		if _, ok := by[from]; ok && len(by) > 1 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// report holds the run's outcome.
type report struct {
	ids         []string
	states      map[string][]messages.TaskStatus
	tl          *timeline
	killedNode  string
	killedDisp  string
	killedAt    time.Time
	dispatchers []string
	f           *fleet
}

func (r report) log(t *testing.T) {
	byState, finishedBy, retried := map[messages.State]int{}, map[string]int{}, 0
	for _, id := range r.ids {
		for _, st := range finals(r.states[id]) {
			byState[st.State]++
			finishedBy[st.Dispatcher]++
			if st.Attempt > 1 {
				retried++
			}
			if st.State != messages.StateSucceeded {
				t.Logf("%s %s after %d attempts: %s", id, st.State, st.Attempt, st.Error)
			}
		}
	}
	t.Logf("cluster: %d tasks on 3 NATS nodes (R3) and 2 dispatchers; killed node %s and dispatcher %s; "+
		"final: %v (%d on a later attempt); lost: %d", len(r.ids), r.killedNode, r.killedDisp, byState, retried,
		len(r.ids)-len(r.states))
	t.Logf("cluster: tasks running per dispatcher before the dispatcher kill: %s; finished per dispatcher: %s; "+
		"taken over from %s: %d %v", counts(r.tl.runningBy(r.killedAt)), counts(finishedBy), r.killedDisp,
		len(r.tl.takenOver(r.killedDisp)), r.tl.takenOver(r.killedDisp))
	for _, d := range r.dispatchers {
		t.Logf("cluster: %s logged %d task_succeeded events", d,
			r.f.countInLog("dispatcher-"+d, `"event":"task_succeeded"`))
	}
}

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+strconv.Itoa(m[k]))
	}
	return strings.Join(parts, " ")
}

// check asserts the outcome: one final state per task, a success; no task
// succeeded twice by the dispatchers' own account; both dispatchers ran
// tasks while both were up; the dead one's tasks were finished elsewhere.
func (r report) check(t *testing.T) {
	if lost := len(r.ids) - len(r.states); lost > 0 {
		t.Errorf("%d of %d tasks lost", lost, len(r.ids))
	}
	for _, id := range r.ids {
		fs := finals(r.states[id])
		if len(fs) > 1 {
			t.Errorf("task %s reached %d final states", id, len(fs))
		}
		if len(fs) > 0 && fs[len(fs)-1].State != messages.StateSucceeded {
			t.Errorf("task %s ended %s: %s", id, fs[len(fs)-1].State, fs[len(fs)-1].Error)
		}
		n := 0
		for _, d := range r.dispatchers {
			n += r.f.countInLog("dispatcher-"+d, `"event":"task_succeeded"`, `"task":"`+id+`"`)
		}
		if n > 1 {
			t.Errorf("task %s succeeded %d times in the dispatchers' logs", id, n)
		}
	}
	for _, name := range []string{"worker-1", "worker-2"} {
		lost := r.f.countInLog(name, `"event":"nats_disconnected"`)
		back := r.f.countInLog(name, `"event":"nats_reconnected"`)
		t.Logf("cluster: %s lost its NATS node %d times and reconnected %d times", name, lost, back)
		if back < lost {
			t.Errorf("%s did not reconnect to another node (%d disconnects, %d reconnects)", name, lost, back)
		}
	}
	before := r.tl.runningBy(r.killedAt)
	for _, d := range r.dispatchers {
		if before[d] == 0 {
			t.Errorf("dispatcher %s ran no task while both were up", d)
		}
	}
	if len(r.tl.takenOver(r.killedDisp)) == 0 {
		t.Errorf("no task of the killed dispatcher %s was taken over by the other", r.killedDisp)
	}
}

// waitFor polls cond until it holds, or fails the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	if !waitUntil(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, what)
	}
}
