package recording

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// ReportFile is the name of the report WriteReport writes.
const ReportFile = "index.html"

// WriteReport writes a self-contained HTML page into dir: every replayed
// frame (embedded as a data URI) with the recorded boxes and the replayed
// boxes drawn in two colours, the recorded click point and where the
// target is now, the step's text, timings, and the box and target diff. It
// returns the page's path.
func WriteReport(dir string, res *Result) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("recording: report: %w", err)
	}
	path := filepath.Join(dir, ReportFile)
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("recording: report: %w", err)
	}
	defer f.Close()
	if err := reportTemplate.Execute(f, newReportData(res)); err != nil {
		return "", fmt.Errorf("recording: report: %w", err)
	}
	return path, f.Close()
}

type reportData struct {
	Title          string
	Frames         []reportFrame
	Changed        int
	Targets        int
	TargetsChanged int
	Took           string
	Pace           string
	Missing        []messages.DetectionRecord
	Limits         string
	Runs           []reportRun
}

// reportRun is how one recorded run ended.
type reportRun struct {
	Task, Sandbox, Outcome, Error, Took string
	Attempt                             int
}

func newReportRuns(runs []messages.TaskRecord) []reportRun {
	var out []reportRun
	for _, r := range runs {
		rr := reportRun{Task: r.Task, Sandbox: r.Sandbox, Attempt: r.Attempt, Outcome: "succeeded", Error: r.Error,
			Took: time.Duration(r.EndedAt - r.StartedAt).Round(time.Millisecond).String()}
		if !r.OK {
			rr.Outcome = "FAILED"
		}
		out = append(out, rr)
	}
	return out
}

type reportFrame struct {
	ID, Step, Task   string
	Seq              uint64
	Model, Worker    string
	Captured         string
	RecTook, RepTook string
	Image            template.URL
	W, H             int
	Recorded         []messages.Box
	Replayed         []messages.Box
	Diff             BoxDiff
	Clicks           []reportClick
	Error            string
	RecordedStatus   string
}

type reportClick struct {
	X, Y, NowX, NowY int
	Found, Same      bool
	Text             string
}

func newReportData(res *Result) reportData {
	d := reportData{Title: "replay of " + res.Recording.Selection.String(), Changed: res.FramesChanged(),
		Targets: countTargets(res), TargetsChanged: res.TargetsChanged(), Took: res.Took.Round(time.Millisecond).String(),
		Pace: "as fast as possible", Missing: res.Recording.Missing, Limits: res.Recording.Limits,
		Runs: newReportRuns(res.Recording.Runs)}
	if res.Pace {
		d.Pace = "original pace"
	}
	for _, f := range res.Frames {
		d.Frames = append(d.Frames, newReportFrame(res.Recording, f))
	}
	return d
}

// reportImage is the frame's image as a data URL: PNG and JPEG as they
// are, sfraw converted to PNG (browsers cannot show it). A frame that cannot
// be converted shows no image.
func reportImage(fr *messages.Frame) template.URL {
	data, codec := fr.Data, fr.Codec
	if codec == messages.CodecRaw {
		var err error
		if data, err = framePNG(fr); err != nil {
			return ""
		}
		codec = messages.CodecPNG
	}
	return template.URL("data:image/" + codec + ";base64," + base64.StdEncoding.EncodeToString(data))
}

func newReportFrame(rec *Recording, f *FrameResult) reportFrame {
	fr := f.Recorded.Frame
	rf := reportFrame{ID: fmt.Sprintf("f-%s-%d", fr.Task, fr.Seq), Task: fr.Task, Seq: fr.Seq,
		Model: f.Model, Worker: f.Worker, Captured: fr.CaptureTime().UTC().Format("15:04:05.000"),
		RepTook: f.Took.Round(time.Millisecond).String(), W: fr.Width, H: fr.Height,
		Image:    reportImage(&fr),
		Replayed: f.Replayed, Diff: f.Diff, Error: f.Error, RecordedStatus: "not recorded"}
	if det := f.Recorded.Detections; det != nil {
		rf.Step = fmt.Sprintf("step %d: %s", det.Step+1, rec.StepText(fr.Task, det.Step))
		rf.RecTook = time.Duration(det.TookNs).Round(time.Millisecond).String()
		rf.Recorded, rf.RecordedStatus = det.Boxes, det.Status
		if !det.Ran() {
			rf.RecordedStatus = "failed: " + det.Error
		}
	}
	for _, a := range f.Recorded.Actions {
		if det := f.Recorded.Detections; det == nil || a.Step != det.Step {
			rf.Step = strings.TrimPrefix(rf.Step+fmt.Sprintf("; step %d: %s", a.Step+1, a.Describe), "; ")
		}
	}
	for _, c := range f.Targets {
		x, y := toFrame(&fr, c.Action.X, c.Action.Y)
		nx, ny := toFrame(&fr, c.X, c.Y)
		rf.Clicks = append(rf.Clicks, reportClick{X: x, Y: y, NowX: nx, NowY: ny, Found: c.Found,
			Same: c.Same, Text: describeCheck(c)})
	}
	return rf
}

// toFrame maps a display point into the frame's pixels, the space the
// boxes are drawn in.
func toFrame(f *messages.Frame, x, y int) (int, int) {
	scale := f.Scale
	if scale <= 0 {
		scale = 1
	}
	return int(float64(x-f.CropX) * scale), int(float64(y-f.CropY) * scale)
}

var reportTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 8px} h2{font-size:16px;margin:0 0 4px}
.frame{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:12px 0}
.frame.changed{border-color:#d01c8b}
.meta{color:#555;margin:2px 0 8px}
svg.shot{max-width:100%;height:auto;border:1px solid #ccc}
rect.rec{fill:none;stroke:#1a9850;stroke-width:2}
rect.rep{fill:none;stroke:#d01c8b;stroke-width:2;stroke-dasharray:6 3}
circle.click{fill:rgba(26,152,80,.35);stroke:#1a9850;stroke-width:3}
circle.now{fill:rgba(208,28,139,.35);stroke:#d01c8b;stroke-width:3}
.legend span{display:inline-block;margin-right:16px}
.rec-c{color:#1a9850;font-weight:bold} .rep-c{color:#d01c8b;font-weight:bold}
table{border-collapse:collapse;margin-top:8px} td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
.bad{color:#b00;font-weight:bold}
</style></head><body>
<h1>{{.Title}}</h1>
<p class="summary">{{len .Frames}} frames replayed ({{.Pace}}) in {{.Took}}: <b>{{.Changed}}</b> with changed boxes;
{{.Targets}} recorded targets, <b class="{{if .TargetsChanged}}bad{{end}}">{{.TargetsChanged}} changed</b>.</p>
{{range .Runs}}<p class="run">run of task {{.Task}} in sandbox {{.Sandbox}} (attempt {{.Attempt}}): <b class="{{if eq .Outcome "FAILED"}}bad{{end}}">{{.Outcome}}</b> after {{.Took}}{{if .Error}}: {{.Error}}{{end}}</p>{{end}}
<p class="legend"><span class="rec-c">▭ recorded boxes and click point</span><span class="rep-c">┅ replayed boxes and where the target is now</span></p>
{{range .Missing}}<p class="bad missing">frame {{.FrameSeq}} of {{.Task}} is gone: dropped by the FRAMES stream's limits</p>{{end}}
{{range .Frames}}<section class="frame{{if or .Diff.Changed .Error}} changed{{end}}" id="{{.ID}}" data-task="{{.Task}}" data-seq="{{.Seq}}">
<h2>{{if .Step}}{{.Step}}{{else}}(no step recorded){{end}} — frame {{.Task}} #{{.Seq}}</h2>
<p class="meta">captured {{.Captured}} UTC · recorded: {{.RecordedStatus}}, {{len .Recorded}} boxes{{if .RecTook}} in {{.RecTook}}{{end}} · replayed on model {{.Model}}{{if .Worker}} (worker {{.Worker}}){{end}}: {{len .Replayed}} boxes in {{.RepTook}}</p>
{{if .Error}}<p class="bad">replay failed: {{.Error}}</p>{{end}}
<svg class="shot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}">
<image href="{{.Image}}" x="0" y="0" width="{{.W}}" height="{{.H}}"/>
<g class="recorded">{{range .Recorded}}<rect class="rec" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>recorded {{.Text}}</title></rect>{{end}}</g>
<g class="replayed">{{range .Replayed}}<rect class="rep" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>replayed {{.Text}}</title></rect>{{end}}</g>
{{range .Clicks}}<circle class="click" cx="{{.X}}" cy="{{.Y}}" r="10"><title>{{.Text}}</title></circle>{{if and .Found (not .Same)}}<circle class="now" cx="{{.NowX}}" cy="{{.NowY}}" r="10"/>{{end}}{{end}}
</svg>
{{if .Clicks}}<ul class="targets">{{range .Clicks}}<li class="{{if not .Same}}bad{{end}}">{{.Text}}</li>{{end}}</ul>{{end}}
{{if .Diff.Changed}}<table class="diff"><tr><th>change</th><th>recorded</th><th>replayed</th><th>IoU</th></tr>
{{range .Diff.Changes}}<tr><td>{{.Kind}}</td><td>{{if .Recorded.W}}{{printf "%q" .Recorded.Text}} {{.Recorded.X}},{{.Recorded.Y}} {{.Recorded.W}}×{{.Recorded.H}}{{end}}</td><td>{{if .Replayed.W}}{{printf "%q" .Replayed.Text}} {{.Replayed.X}},{{.Replayed.Y}} {{.Replayed.W}}×{{.Replayed.H}}{{end}}</td><td>{{printf "%.2f" .IoU}}</td></tr>{{end}}
</table>{{else}}<p class="meta">boxes unchanged ({{.Diff.Same}} the same)</p>{{end}}
</section>
{{end}}</body></html>
`))
