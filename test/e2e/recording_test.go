package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/net/html"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// shiftedModel is a deliberately different model: a test double on our own
// NATS protocol that asks the real OCR model and moves every box right by
// shiftPixels, as a regressed model might.
const (
	shiftedModel = "ocr-shifted"
	shiftPixels  = 30
)

// TestRecordedRunReplays replays the recorded login task: through the same
// model nothing changes; through the shifted model boxes move, the chosen
// targets change and sfctl says so with exit status 1; the HTML report
// renders in Firefox; export writes PNG frames with an index.
func TestRecordedRunReplays(t *testing.T) {
	t.Parallel()
	// The same submission as TestLoginTaskChangesThePage: the stream's
	// duplicate window makes it one run, which both tests use.
	id := "e2e-login"
	submitJSON(t, exampleTask(t, "../../examples/tasks/login.json", id), id)
	requireSucceeded(t, waitFinal(t, id, taskLimit))

	out, err := sfctl("replay", id)
	if exitCode(err) != 0 || !strings.Contains(string(out),
		": 0 changed;") || !strings.Contains(string(out), ", 0 changed\n") {
		t.Fatalf("replay through the same model: %v\n%s", err, out)
	}
	t.Logf("same model:\n%s", out)

	startShiftedModel(t)
	dir := t.TempDir()
	out, err = sfctl("replay", id, "--model", shiftedModel, "--html", dir)
	if exitCode(err) != 1 || !strings.Contains(string(out), "CHANGED") {
		t.Fatalf("replay through %s: exit %d, want 1 with changed targets\n%s", shiftedModel, exitCode(err), out)
	}
	t.Logf("shifted model:\n%s", out)
	report := filepath.Join(dir, "index.html")
	clicked := checkReportHTML(t, report)
	checkRendered(t, report, "")
	if keep := os.Getenv("SF_E2E_SCREENSHOT"); keep != "" {
		// README's picture starts at the first frame with a click on it.
		checkRendered(t, trimReport(t, report, clicked), keep)
	}
	checkExport(t, id)
}

// startShiftedModel serves shiftedModel until the test ends.
func startShiftedModel(t *testing.T) {
	subj := messages.NewSubjects("")
	nc, err := nats.Connect(shared.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	_, err = nc.QueueSubscribe(subj.InferAll(shiftedModel), subj.InferQueue(shiftedModel), func(m *nats.Msg) {
		reply, err := nc.Request(subj.Infer(messages.DefaultModel, "shift-double"), m.Data, 20*time.Second)
		if err != nil {
			return // the replayer times out and says so
		}
		var det messages.Detections
		if messages.Decode(reply.Data, &det) != nil {
			return
		}
		for i := range det.Boxes {
			det.Boxes[i].X += shiftPixels
		}
		det.Model = shiftedModel
		b, _ := messages.Encode(&det)
		_ = m.Respond(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// checkReportHTML parses the report and counts frames, images and boxes.
// It returns the id of the first frame with a click on it.
func checkReportHTML(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	count, clicked, section := map[string]int{}, "", ""
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		count[n.Data]++
		if n.Data == "section" {
			section = attrOf(n, "id")
		}
		if n.Data == "circle" && clicked == "" {
			clicked = section
		}
		for _, a := range n.Attr {
			if a.Key == "class" {
				count[n.Data+"."+a.Val]++
			}
			if a.Key == "href" && n.Data == "image" && strings.HasPrefix(a.Val, "data:image/png;base64,") {
				count["png"]++
			}
		}
	}
	if count["section"] == 0 || count["png"] != count["section"] || count["rect.rec"] == 0 ||
		count["rect.rep"] == 0 || count["circle.click"] == 0 {
		t.Fatalf("report lacks frames or boxes: %v", count)
	}
	return clicked
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// checkRendered opens the report in headless Firefox, screenshots it, and
// checks the picture shows both box colours. keep, when set, is where the
// screenshot is saved.
func checkRendered(t *testing.T, report, keep string) {
	t.Helper()
	home := t.TempDir()
	shot := filepath.Join(home, "report.png")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "firefox-esr", "--headless", "--no-remote", "--profile", home,
		"--window-size", "1300,1500", "--screenshot", shot, "file://"+report)
	cmd.Env = append(os.Environ(), "HOME="+home, "DISPLAY=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("firefox screenshot: %v\n%s", err, out)
	}
	img := readPNG(t, shot)
	if rec, rep := countColour(img, 0x1a, 0x98, 0x50), countColour(img, 0xd0, 0x1c,
		0x8b); rec < 50 || rep < 50 {
		t.Fatalf("screenshot %dx%d shows %d recorded-box and %d replayed-box pixels", img.Bounds().Dx(),
			img.Bounds().Dy(), rec, rep)
	}
	if keep != "" {
		savePNG(t, keep, img)
	}
}

// trimReport writes a copy of the report without the frames before the
// one with id from, and returns its path.
func trimReport(t *testing.T, report, from string) string {
	t.Helper()
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var drop []*html.Node
	for n := range doc.Descendants() {
		if n.Type == html.ElementNode && n.Data == "section" {
			if attrOf(n, "id") == from {
				break
			}
			drop = append(drop, n)
		}
	}
	for _, n := range drop {
		n.Parent.RemoveChild(n)
	}
	var out bytes.Buffer
	if err := html.Render(&out, doc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trimmed.html")
	writeFile(t, path, out.Bytes())
	return path
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func savePNG(t *testing.T, path string, img image.Image) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

// countColour counts the pixels within a small distance of r, g, b.
func countColour(img image.Image, r, g, b uint8) int {
	n := 0
	near := func(a uint32, want uint8) bool { d := int(a>>8) - int(want); return d > -24 && d < 24 }
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if near(cr, r) && near(cg, g) && near(cb, b) {
				n++
			}
		}
	}
	return n
}

// checkExport exports the task and reads the index and a frame back.
func checkExport(t *testing.T, id string) {
	t.Helper()
	dir := t.TempDir()
	if out, err := sfctl("export", id, dir); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		Frames []struct {
			File  string `json:"file"`
			Task  string `json:"task"`
			Width int    `json:"width"`
		} `json:"frames"`
	}
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Frames) == 0 || idx.Frames[0].Task != id {
		t.Fatalf("index.json: %v\n%.500s", err, b)
	}
	if img := readPNG(t, filepath.Join(dir, idx.Frames[0].File)); img.Bounds().Dx() != idx.Frames[0].Width {
		t.Fatalf("exported frame is %d wide, index says %d", img.Bounds().Dx(), idx.Frames[0].Width)
	}
}

// TestOnFailureRunIsDroppedWhenItSucceeds runs a task that asks to be kept
// only on failure; it succeeds, so its recording goes, while a failed
// task's recording stays.
func TestOnFailureRunIsDroppedWhenItSucceeds(t *testing.T) {
	t.Parallel()
	id := "e2e-rec-on-failure"
	task := `{"id":"` + id + `","record":"on_failure","app":{"command":["firefox-esr","--kiosk","` +
		shared.site.URL + `/notes.html"]},"steps":[{"action":"wait_for","target":{"text":"Nothing written"},"timeout":"60s"}]}`
	submitJSON(t, []byte(task), id)
	requireSucceeded(t, waitFinal(t, id, taskLimit))
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := sfctl("export", id, t.TempDir())
		if exitCode(err) == 3 && strings.Contains(string(out), "nothing recorded") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the succeeded on_failure run is still recorded: exit %d\n%s", exitCode(err), out)
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not synchronisation
	}

	// The failed task of TestMissingTargetFailsWithSeenTexts (one run,
	// shared through the duplicate window) is kept.
	broken := "e2e-broken"
	submitJSON(t, exampleTask(t, "../../examples/broken/broken.json", broken), broken)
	waitFinal(t, broken, taskLimit)
	if out, err := sfctl("export", broken, t.TempDir()); err != nil {
		t.Fatalf("the failed run was not kept: %v\n%s", err, out)
	}
}
