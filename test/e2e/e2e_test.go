// Package e2e runs the real binaries together: sfctl dev (embedded NATS,
// inferd with Tesseract, a worker, a dispatcher with the process runtime),
// agentd in a real Xvfb, and Firefox ESR on the example pages.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// env is the running system the tests share: starting Firefox-capable
// sandboxes is the slow part, so one system serves every test.
type env struct {
	bin     string // folder with the built binaries
	natsURL string
	site    *site
	nc      *nats.Conn
	js      jetstream.JetStream
	devOut  []string // what sfctl dev printed before "ready": where each part listens
}

var shared *env

func TestMain(m *testing.M) {
	flag.Parse()
	if reason := missingTools(); reason != "" {
		fmt.Println("e2e: skipping:", reason)
		os.Exit(0)
	}
	code, err := runWithSystem(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func missingTools() string {
	if testing.Short() {
		return "-short"
	}
	for _, tool := range []string{"Xvfb", "firefox-esr", "tesseract"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not installed (make deps installs it)"
		}
	}
	return ""
}

func runWithSystem(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "sf-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	e := &env{bin: filepath.Join(dir, "bin"), site: newSite()}
	defer e.site.Close()
	if err := build(e.bin); err != nil {
		return 0, err
	}
	stop, err := e.startDev(filepath.Join(dir, "data"))
	if err != nil {
		return 0, err
	}
	defer stop()
	shared = e
	return m.Run(), nil
}

// build compiles every command once into bin.
func build(bin string) error {
	cmd := exec.Command("go", "build", "-o", bin+"/", "../../cmd/...")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// startDev runs `sfctl dev` and waits until it says it is ready.
func (e *env) startDev(dataDir string) (func(), error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(e.bin, "sfctl"), "dev", "--data-dir", dataDir,
		"--nats-port", fmt.Sprint(port), "--site", "", "--max-sandboxes", "2", "--log-format", "json")
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(filepath.Dir(dataDir), "dev.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
		logFile.Close()
		if os.Getenv("SF_E2E_KEEP_LOG") != "" {
			b, _ := os.ReadFile(logFile.Name())
			os.Stderr.Write(b)
		}
	}
	if e.devOut, err = waitReady(out, 60*time.Second); err != nil {
		stop()
		b, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("sfctl dev did not become ready: %w\n%s", err, tail(string(b), 4000))
	}
	e.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	if e.nc, err = nats.Connect(e.natsURL); err != nil {
		stop()
		return nil, err
	}
	e.js, _ = jetstream.New(e.nc)
	return func() { e.nc.Close(); stop() }, nil
}

// waitReady reads sfctl dev's output until its "ready" line and returns the
// lines before it.
func waitReady(out io.Reader, limit time.Duration) ([]string, error) {
	found := make(chan error, 1)
	var lines []string
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				found <- nil
				break
			}
			lines = append(lines, sc.Text())
		}
		_, _ = io.Copy(io.Discard, out)
		found <- errors.New("sfctl dev exited")
	}()
	select {
	case err := <-found:
		return lines, err
	case <-time.After(limit):
		return nil, fmt.Errorf("no ready line after %s", limit)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// site serves the example pages and records what the pages send back.
type site struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	echoes   map[string][]string // by query
}

func newSite() *site {
	s := &site{echoes: map[string][]string{}}
	files := http.FileServer(http.Dir("../../examples/site"))
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.echoes[r.URL.RawQuery] = append(s.echoes[r.URL.RawQuery], string(b))
		s.mu.Unlock()
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.RequestURI())
		s.mu.Unlock()
		files.ServeHTTP(w, r)
	})
	s.Server = httptest.NewServer(mux)
	return s
}

func (s *site) sawRequest(uri string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if r == uri {
			return true
		}
	}
	return false
}

// waitEcho waits until the page has echoed want, and returns the echoes.
// The page posts on every keystroke and the posts may overtake each other,
// so the order of arrival says nothing; the full text arriving does.
func (s *site) waitEcho(query, want string, limit time.Duration) ([]string, bool) {
	deadline := time.Now().Add(limit)
	for {
		s.mu.Lock()
		echoes := append([]string(nil), s.echoes[query]...)
		s.mu.Unlock()
		for _, e := range echoes {
			if e == want {
				return echoes, true
			}
		}
		if time.Now().After(deadline) {
			return echoes, false
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// exampleTask reads an example task, points it at the test site and renames it.
func exampleTask(t *testing.T, path, id string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var task map[string]any
	if err := json.Unmarshal(b, &task); err != nil {
		t.Fatal(err)
	}
	task["id"] = id
	out, _ := json.Marshal(task)
	return []byte(strings.ReplaceAll(string(out), "http://127.0.0.1:8088", shared.site.URL))
}

// submitJSON publishes raw JSON, as a person with the nats CLI would.
func submitJSON(t *testing.T, payload []byte, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := shared.js.Publish(ctx, messages.NewSubjects("").TaskSubmit(), payload, opts...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// waitFinal polls the task's KV state until it is final.
func waitFinal(t *testing.T, id string, limit time.Duration) messages.TaskStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	kv, err := shared.js.KeyValue(ctx, messages.TasksBucket)
	if err != nil {
		t.Fatalf("bucket: %v", err)
	}
	var st messages.TaskStatus
	for ctx.Err() == nil {
		if e, err := kv.Get(ctx, id); err == nil {
			if err := messages.Decode(e.Value(), &st); err != nil {
				t.Fatal(err)
			}
			if st.State.Final() {
				return st
			}
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatalf("task %s not final after %s (last state %q, %d steps)", id, limit, st.State, len(st.Steps))
	return st
}

func requireSucceeded(t *testing.T, st messages.TaskStatus) {
	t.Helper()
	if st.State != messages.StateSucceeded {
		t.Fatalf("task %s %s: %s\nseen: %q\nsteps: %+v", st.ID, st.State, st.Error, st.Seen, st.Steps)
	}
	for _, s := range st.Steps {
		t.Logf("  [%d] %-13s %8s %s", s.Index+1, s.Action, s.Duration.D().Round(time.Millisecond), s.Detail)
	}
}
