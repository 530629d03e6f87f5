// Package elementstest holds a test page for element detection: one control
// of each class at known places, rendered with ocrtest.Screenshot.
package elementstest

import "github.com/screenfleet/screenfleet/internal/ocr/ocrtest"

// FormPage has two buttons (Firefox's default look and a flat coloured
// one), a text input with text in it, a checkbox, and plain text that is
// not a control.
const FormPage = `<!doctype html>
<html><body style="margin:0;background:#fff;font-family:sans-serif">
<button style="position:absolute;left:40px;top:40px;width:120px;height:32px;font-size:16px">Save</button>
<input style="position:absolute;left:40px;top:100px;width:240px;height:24px;font-size:16px" value="alice">
<input type="checkbox" style="position:absolute;left:40px;top:160px;margin:0">
<button style="position:absolute;left:200px;top:40px;width:100px;height:30px;font-size:16px;background:#2a6fdb;color:#fff;border:0;border-radius:4px">Send</button>
<div style="position:absolute;left:40px;top:220px;font-size:16px">Plain text, not an element</div>
</body></html>`

// Element is one control of FormPage: its class name and where it is drawn,
// outline included (measured once from Firefox's rendering: the input's
// 240 px content box gains padding and border).
type Element struct {
	Class string
	At    ocrtest.Rect
}

// FormElements are FormPage's controls.
var FormElements = []Element{
	{"button", ocrtest.Rect{X: 40, Y: 40, W: 120, H: 32}},
	{"button", ocrtest.Rect{X: 200, Y: 40, W: 100, H: 30}},
	{"input", ocrtest.Rect{X: 40, Y: 100, W: 248, H: 30}},
	{"checkbox", ocrtest.Rect{X: 40, Y: 160, W: 13, H: 13}},
}
