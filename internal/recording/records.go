package recording

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// records are the records Load read, before frames are joined to them.
type records struct {
	dets []messages.DetectionRecord
	acts []messages.ActionRecord
	runs []messages.TaskRecord
}

// span returns the capture times of the first and last detections.
func (r *records) span() (first, last time.Time) {
	for i, d := range r.dets {
		t := time.Unix(0, d.CapturedAt)
		if i == 0 || t.Before(first) {
			first = t
		}
		if t.After(last) {
			last = t
		}
	}
	return first, last
}

// model returns the model task ran with, as its run end recorded it.
func (r *records) model(task string) string {
	for _, run := range r.runs {
		if run.Task == task && run.Model != "" {
			return run.Model
		}
	}
	return messages.DefaultModel
}

// loadRecords reads the records sel selects.
func loadRecords(ctx context.Context, js jetstream.JetStream, subj messages.Subjects,
	sel Selection) (*records, error) {
	filter, start := subj.RecordsOfTask(sel.Task), time.Time{}
	if sel.Task == "" {
		filter, start = subj.RecordsOfSandbox(sel.Sandbox), sel.From
	}
	out := &records{}
	err := readStream(ctx, js, messages.RecordsStream, filter, start, func(m jetstream.Msg) (bool, error) {
		if ts := msgTime(m); sel.Task == "" && !sel.To.IsZero() && ts.After(sel.To.Add(publishSlack)) {
			return false, nil
		}
		return true, out.add(m.Subject(), m.Data(), sel)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// add decodes one record by the kind its subject ends with.
func (r *records) add(subject string, data []byte, sel Selection) error {
	kind := subject[strings.LastIndexByte(subject, '.')+1:]
	var err error
	switch kind {
	case messages.RecordKindDetections:
		var d messages.DetectionRecord
		if err = messages.Decode(data, &d); err == nil && sel.covers(d.CapturedAt) {
			r.dets = append(r.dets, d)
		}
	case messages.RecordKindAction:
		var a messages.ActionRecord
		if err = messages.Decode(data, &a); err == nil {
			r.acts = append(r.acts, a)
		}
	case messages.RecordKindEnd:
		var t messages.TaskRecord
		if err = messages.Decode(data, &t); err == nil {
			r.runs = append(r.runs, t)
		}
	}
	if err != nil {
		return fmt.Errorf("recording: record on %s: %w", subject, err)
	}
	return nil
}

// covers reports whether a frame captured at ns (unix) is in sel's range.
func (sel Selection) covers(ns int64) bool {
	if sel.Task != "" {
		return true
	}
	t := time.Unix(0, ns)
	return !t.Before(sel.From) && (sel.To.IsZero() || !t.After(sel.To))
}

// readStream reads stream's messages on filter from start (the beginning
// when zero) until none is pending or fn returns false.
func readStream(ctx context.Context, js jetstream.JetStream, stream, filter string, start time.Time,
	fn func(jetstream.Msg) (bool, error)) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}}
	if !start.IsZero() {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := js.OrderedConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("recording: read %s: %w", stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("recording: read %s: %w", stream, err)
	}
	for pending := info.NumPending; pending > 0; {
		// Ask for no more than is pending: a pull waits until it has
		// all it asked for or fetchWait has passed.
		batch, err := cons.Fetch(int(min(pending, fetchBatch)), jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			return fmt.Errorf("recording: read %s: %w", stream, err)
		}
		got, more, err := drain(batch, &pending, fn)
		if err != nil || !more {
			return err
		}
		if err := batch.Error(); err != nil && got == 0 && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("recording: read %s: %w", stream, err)
		}
		if got == 0 {
			return nil // what was pending has been deleted meanwhile
		}
	}
	return nil
}

// drain hands a batch's messages to fn, updating pending; more is false
// when fn asked to stop.
func drain(batch jetstream.MessageBatch, pending *uint64, fn func(jetstream.Msg) (bool,
	error)) (got int, more bool, err error) {
	for m := range batch.Messages() {
		got++
		meta, err := m.Metadata()
		if err != nil {
			return got, false, fmt.Errorf("recording: read: %w", err)
		}
		*pending = meta.NumPending
		if more, err := fn(m); err != nil || !more {
			return got, false, err
		}
	}
	return got, true, nil
}

func msgTime(m jetstream.Msg) time.Time {
	meta, err := m.Metadata()
	if err != nil {
		return time.Time{}
	}
	return meta.Timestamp
}
