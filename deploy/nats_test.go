package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/internal/agentauth"
	"github.com/screenfleet/screenfleet/internal/framestore"
	"github.com/screenfleet/screenfleet/internal/sfctl"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// Test passwords, one per role, handed to nats.conf through the
// environment as a deployment does.
var rolePasswords = map[string]string{
	"submitter":  "sub-secret",
	"dispatcher": "disp-secret",
	"worker":     "work-secret",
	"authorizer": "authz-secret",
}

// agentSecret is the dispatchers' secret agents' passwords derive from.
var agentSecret = []byte("agent-secret-of-the-test-deployment")

// startConfiguredServer runs a nats-server from deploy/nats.conf on a free
// port with a temporary store, and the dispatcher's auth callout service
// connected as the authorizer user.
func startConfiguredServer(t *testing.T) *server.Server {
	t.Helper()
	for role, pw := range rolePasswords {
		t.Setenv("SF_NATS_"+strings.ToUpper(role)+"_PASSWORD", pw)
	}
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := issuer.Seed()
	pub, _ := issuer.PublicKey()
	t.Setenv("SF_NATS_CALLOUT_ISSUER", pub)
	opts, err := server.ProcessConfigFile("nats.conf")
	if err != nil {
		t.Fatalf("parse nats.conf: %v", err)
	}
	opts.Port, opts.HTTPPort, opts.StoreDir = -1, 0, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	svc, err := agentauth.Start(connectAs(t, srv, "authorizer"), agentauth.Config{Secret: agentSecret,
		IssuerSeed: seed, Subjects: messages.NewSubjects("")}, zerolog.New(io.Discard))
	if err != nil {
		t.Fatalf("auth callout: %v", err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	return srv
}

// connectAs dials srv as role.
func connectAs(t *testing.T, srv *server.Server, role string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(role, rolePasswords[role]),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// connectAgent dials srv as sandbox's agent does: its sandbox id, its
// password and its own inbox prefix.
func connectAgent(t *testing.T, srv *server.Server, sandbox string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(sandbox, agentauth.Password(agentSecret, sandbox)),
		nats.CustomInboxPrefix(agentauth.InboxPrefix(sandbox)),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		t.Fatalf("connect as the agent of %s: %v", sandbox, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// violation runs do on nc and returns the permission error the server
// answered with, or nil.
func violation(t *testing.T, nc *nats.Conn, do func(nc *nats.Conn) error) error {
	t.Helper()
	err := do(nc)
	if ferr := nc.Flush(); ferr != nil && err == nil {
		err = ferr
	}
	if last := nc.LastError(); last != nil && err == nil {
		err = last
	}
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
		return err
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	return nil
}

func pub(subject string) func(*nats.Conn) error {
	return func(nc *nats.Conn) error { return nc.Publish(subject, []byte("x")) }
}

func sub(subject string) func(*nats.Conn) error {
	return func(nc *nats.Conn) error {
		_, err := nc.Subscribe(subject, func(*nats.Msg) {})
		return err
	}
}

// TestNATSConfRefuses shows each role is refused what it must not do.
func TestNATSConfRefuses(t *testing.T) {
	srv := startConfiguredServer(t)
	cases := []struct {
		role, what string
		do         func(*nats.Conn) error
	}{
		{"submitter", "write task state", pub("$KV.sf_tasks.t1")},
		{"submitter", "consume the task stream", pub("$JS.API.CONSUMER.CREATE.TASKS.dispatchers")},
		{"submitter", "delete the task stream", pub("$JS.API.STREAM.DELETE.TASKS")},
		{"submitter", "read frames", sub("sf.infer.>")},
		{"submitter", "assign a task", pub("sf.sandbox.sb1.assign")},
		{"submitter", "report progress", pub("sf.progress.t1")},
		{"submitter", "read authorization requests", sub("$SYS.REQ.USER.AUTH")},
		{"worker", "submit a task", pub("sf.tasks.submit")},
		{"worker", "send frames", pub("sf.infer.ocr.sb1")},
		{"worker", "take assignments", sub("sf.sandbox.*.assign")},
		{"worker", "write task state", pub("$KV.sf_tasks.t1")},
		{"worker", "use the JetStream API", pub("$JS.API.INFO")},
		{"dispatcher", "send frames", pub("sf.infer.ocr.sb1")},
		{"dispatcher", "read frames", sub("sf.infer.ocr.*")},
		{"dispatcher", "read authorization requests", sub("$SYS.REQ.USER.AUTH")},
		{"authorizer", "submit a task", pub("sf.tasks.submit")},
		{"authorizer", "ask for an authorization", pub("$SYS.REQ.USER.AUTH")},
		{"authorizer", "read tasks", sub("sf.>")},
		{"authorizer", "read replies", sub("_INBOX.>")},
	}
	for _, c := range cases {
		t.Run(c.role+" cannot "+c.what, func(t *testing.T) {
			if err := violation(t, connectAs(t, srv, c.role), c.do); err == nil {
				t.Errorf("%s was allowed to %s", c.role, c.what)
			}
		})
	}
	if _, err := nats.Connect(srv.ClientURL(), nats.UserInfo("worker", "wrong")); err == nil {
		t.Error("a wrong password was accepted")
	}
	if _, err := nats.Connect(srv.ClientURL()); err == nil {
		t.Error("a client without credentials was accepted")
	}
}

// TestNATSConfConfinesAgents shows an agent is refused everything outside
// its own sandbox, and what no agent may do at all.
func TestNATSConfConfinesAgents(t *testing.T) {
	srv := startConfiguredServer(t)
	cases := []struct {
		what string
		do   func(*nats.Conn) error
	}{
		{"send another sandbox's frames for inference", pub("sf.infer.ocr.sbB")},
		{"record another sandbox's frames", pub("sf.frames.t1.sbB")},
		{"record for another sandbox", pub("sf.rec.t1.sbB.act")},
		{"take another sandbox's assignments", sub("sf.sandbox.sbB.assign")},
		{"take every sandbox's assignments", sub("sf.sandbox.*.assign")},
		{"read another sandbox's replies", sub("_INBOX_sbB.>")},
		{"read the default inboxes", sub("_INBOX.>")},
		{"read every subject", sub(">")},
		{"assign a task", pub("sf.sandbox.sbB.assign")},
		{"submit a task", pub("sf.tasks.submit")},
		{"write task state", pub("$KV.sf_tasks.t1")},
		{"use the JetStream API", pub("$JS.API.STREAM.NAMES")},
		{"read other sandboxes' frames", sub("sf.infer.ocr.*")},
		{"read recorded frames", sub("sf.frames.>")},
		{"send to a named worker", pub("sf.direct.w1.ocr.sbA")},
		{"read progress", sub("sf.progress.*")},
		{"read authorization requests", sub("$SYS.REQ.USER.AUTH")},
		{"ask for an authorization", pub("$SYS.REQ.USER.AUTH")},
	}
	for _, c := range cases {
		t.Run("agent cannot "+c.what, func(t *testing.T) {
			if err := violation(t, connectAgent(t, srv, "sbA"), c.do); err == nil {
				t.Errorf("the agent of sbA was allowed to %s", c.what)
			}
		})
	}
	refused := []struct{ what, user, password string }{
		{"a wrong password", "sbA", "0123456789abcdef"},
		{"another sandbox's password", "sbA", agentauth.Password(agentSecret, "sbB")},
		{"a made-up sandbox with a guessed password", "sb-madeup", "guess"},
		{"a password of another secret", "sbA", agentauth.Password([]byte("another secret entirely"), "sbA")},
		{"a role's name with an agent's password", "dispatcher", agentauth.Password(agentSecret, "dispatcher")},
		{"no password", "sbA", ""},
		{"a user name that is no sandbox id", "sb.*", agentauth.Password(agentSecret, "sb.*")},
	}
	for _, c := range refused {
		nc, err := nats.Connect(srv.ClientURL(), nats.UserInfo(c.user, c.password))
		if err == nil {
			nc.Close()
			t.Errorf("%s was accepted", c.what)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: refused with %v, want an authorization violation", c.what, err)
		}
	}
}

// TestNATSConfAllows runs each role's needed actions end to end: the
// dispatcher creates the stream and bucket, the submitter submits and reads
// state, a sandbox's agent (through the auth callout) sends a frame a
// worker answers, the dispatcher assigns a task the agent answers and
// acknowledges its progress, and the agent records.
func TestNATSConfAllows(t *testing.T) {
	srv := startConfiguredServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	disp := connectAs(t, srv, "dispatcher")
	djs, _ := jetstream.New(disp)
	if _, err := djs.CreateStream(ctx, jetstream.StreamConfig{Name: "TASKS",
		Subjects: []string{"sf.tasks.submit"}}); err != nil {
		t.Fatalf("dispatcher creates TASKS: %v", err)
	}
	dkv, err := djs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "sf_tasks"})
	if err != nil {
		t.Fatalf("dispatcher creates sf_tasks: %v", err)
	}
	if _, err := dkv.Put(ctx, "t1", []byte("queued")); err != nil {
		t.Fatalf("dispatcher writes state: %v", err)
	}
	cons, err := djs.CreateOrUpdateConsumer(ctx, "TASKS", jetstream.ConsumerConfig{Durable: "dispatchers"})
	if err != nil {
		t.Fatalf("dispatcher creates the consumer: %v", err)
	}

	submitter := connectAs(t, srv, "submitter")
	sjs, _ := jetstream.New(submitter)
	if _, err := sjs.Publish(ctx, "sf.tasks.submit", []byte(`{"id":"t1"}`)); err != nil {
		t.Fatalf("submitter submits: %v", err)
	}
	skv, err := sjs.KeyValue(ctx, "sf_tasks")
	if err != nil {
		t.Fatalf("submitter opens sf_tasks: %v", err)
	}
	if e, err := skv.Get(ctx, "t1"); err != nil || string(e.Value()) != "queued" {
		t.Fatalf("submitter reads state: %v", err)
	}
	w, err := skv.Watch(ctx, "t1")
	if err != nil {
		t.Fatalf("submitter watches state: %v", err)
	}
	if e := <-w.Updates(); e == nil || string(e.Value()) != "queued" {
		t.Fatalf("submitter watch gave %v", e)
	}
	_ = w.Stop()
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	if _, err := skv.Put(pctx, "t1", []byte("succeeded")); err == nil {
		t.Fatal("submitter wrote task state")
	}
	if _, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatalf("dispatcher fetches: %v", err)
	}

	worker := connectAs(t, srv, "worker")
	if _, err := worker.QueueSubscribe("sf.infer.ocr.*", "sf-workers-ocr", func(m *nats.Msg) {
		_ = m.Respond([]byte("boxes"))
	}); err != nil {
		t.Fatal(err)
	}
	_ = worker.Flush()
	agent := connectAgent(t, srv, "sb1")
	if r, err := agent.RequestWithContext(ctx, "sf.infer.ocr.sb1",
		[]byte("frame")); err != nil || string(r.Data) != "boxes" {
		t.Fatalf("agent's frame not answered by the worker: %v", err)
	}
	if _, err := agent.Subscribe("sf.sandbox.sb1.assign",
		func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
		t.Fatal(err)
	}
	_ = agent.Flush()
	if r, err := disp.RequestWithContext(ctx, "sf.sandbox.sb1.assign",
		[]byte("task")); err != nil || string(r.Data) != "ok" {
		t.Fatalf("assignment not answered by the agent: %v", err)
	}
	if _, err := disp.Subscribe("sf.progress.*", func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
		t.Fatal(err)
	}
	_ = disp.Flush()
	if _, err := agent.RequestWithContext(ctx, "sf.progress.t1", []byte("step")); err != nil {
		t.Fatalf("agent's progress not answered: %v", err)
	}
	// C14: a frame over max_payload goes through the object store; the
	// agent puts it, the worker reads it back, the agent deletes it.
	if err := framestore.Ensure(ctx, djs, 1); err != nil {
		t.Fatalf("dispatcher creates the frames bucket: %v", err)
	}
	ajs, _ := jetstream.New(agent)
	wjs, _ := jetstream.New(worker)
	big := bytes.Repeat([]byte("px"), 5<<20)
	ref, err := framestore.New(ajs).Put(ctx, "sb1.t1.1", big)
	if err != nil {
		t.Fatalf("agent puts a frame by reference: %v", err)
	}
	if got, err := framestore.New(wjs).Get(ctx, ref); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("worker reads the frame by reference: %d bytes, %v", len(got), err)
	}
	if err := framestore.New(ajs).Delete(ctx, "sb1.t1.1"); err != nil {
		t.Fatalf("agent deletes its frame: %v", err)
	}
	for _, subject := range []string{"sf.frames.t1.sb1", "sf.rec.t1.sb1.act"} {
		if err := violation(t, agent, pub(subject)); err != nil {
			t.Fatalf("agent cannot record on %s: %v", subject, err)
		}
	}
}

// TestSfctlAsSubmitter runs sfctl's reading commands with the submitter's
// credentials against task state the dispatcher wrote.
func TestSfctlAsSubmitter(t *testing.T) {
	srv := startConfiguredServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	djs, _ := jetstream.New(connectAs(t, srv, "dispatcher"))
	if _, err := djs.CreateStream(ctx, jetstream.StreamConfig{Name: messages.TasksStream,
		Subjects: []string{"sf.tasks.submit"}}); err != nil {
		t.Fatal(err)
	}
	kv, err := djs.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: messages.TasksBucket, History: 4})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := messages.Encode(messages.TaskStatus{ID: "t1", State: messages.StateSucceeded, Attempt: 1})
	if _, err := kv.Put(ctx, "t1", st); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(srv.ClientURL(), "nats://", "nats://submitter:"+rolePasswords["submitter"]+"@", 1)
	for _, args := range [][]string{{"status", "t1"}, {"tasks"}} {
		var out bytes.Buffer
		root := sfctl.NewRoot(&out)
		root.SetArgs(append(args, "--nats-url", url))
		root.SetErr(&out)
		if err := root.ExecuteContext(ctx); err != nil {
			t.Errorf("sfctl %s as submitter: %v\n%s", strings.Join(args, " "), err, out.String())
		} else if !strings.Contains(out.String(), "succeeded") {
			t.Errorf("sfctl %s as submitter printed:\n%s", strings.Join(args, " "), out.String())
		}
	}
}
