package recording

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

const (
	// keeperConsumer is the durable consumer every dispatcher's keeper
	// shares, so each run's end is handled once.
	keeperConsumer = "recording-keeper"
	// keeperAckWait leaves a keeper time to scan a long run's frames.
	keeperAckWait = time.Minute
	// keeperRetry spaces the attempts at a run whose forgetting failed.
	keeperRetry = 5 * time.Second
	// forgetTimeout bounds forgetting one run.
	forgetTimeout = 45 * time.Second
)

// Service is recording as a dispatcher runs it: the streams, the fleet's
// mode, and the keeper that drops the runs not to be kept.
type Service struct {
	cfg    Config
	cc     jetstream.ConsumeContext
	log    zerolog.Logger
	js     jetstream.JetStream
	subj   messages.Subjects
	cancel context.CancelFunc
}

// Start makes sure the streams exist and starts the keeper, unless
// cfg.Mode is ModeOff. Stop the service when done.
func Start(ctx context.Context, js jetstream.JetStream, subj messages.Subjects, cfg Config,
	log zerolog.Logger) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: log, js: js, subj: subj}
	if cfg.Mode == ModeOff {
		return s, nil
	}
	if err := EnsureStreams(ctx, js, subj, cfg); err != nil {
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, messages.RecordsStream, jetstream.ConsumerConfig{
		Durable: keeperConsumer, Description: "drops recordings of runs not to be kept",
		FilterSubject: subj.RecordEnds(), AckPolicy: jetstream.AckExplicitPolicy, AckWait: keeperAckWait,
		DeliverPolicy: jetstream.DeliverNewPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("recording: consumer %s: %w", keeperConsumer, err)
	}
	var kctx context.Context
	kctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.cc, err = cons.Consume(func(m jetstream.Msg) { s.handleEnd(kctx, m) })
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("recording: consume %s: %w", keeperConsumer, err)
	}
	s.log.Info().Str("event", "recording_started").Str("mode", string(cfg.Mode)).
		Dur("max_age", cfg.MaxAge).Int64("max_bytes", cfg.MaxBytes).Msg("recording started")
	return s, nil
}

// Resolve returns the record mode a task runs with. A nil service records
// as the task asks.
func (s *Service) Resolve(task messages.RecordMode) messages.RecordMode {
	if s == nil {
		return ModeTask.Resolve(task)
	}
	return s.cfg.Mode.Resolve(task)
}

// Stop stops the keeper; a run it was forgetting is redelivered later.
func (s *Service) Stop() {
	if s == nil || s.cc == nil {
		return
	}
	s.cc.Stop()
	s.cancel()
}

// handleEnd forgets a run that is not to be kept, and acknowledges it.
func (s *Service) handleEnd(ctx context.Context, m jetstream.Msg) {
	var run messages.TaskRecord
	if err := messages.Decode(m.Data(), &run); err != nil {
		s.log.Warn().Err(err).Str("subject", m.Subject()).Msg("unreadable run end record")
		_ = m.Term()
		return
	}
	if run.Record.Keep(run.OK) {
		_ = m.Ack()
		return
	}
	fctx, cancel := context.WithTimeout(ctx, forgetTimeout)
	defer cancel()
	n, err := Forget(fctx, s.js, s.subj, run)
	if err != nil {
		s.log.Warn().Err(err).Str("task", run.Task).Str("sandbox", run.Sandbox).Msg("recording not dropped")
		_ = m.NakWithDelay(keeperRetry)
		return
	}
	s.log.Info().Str("event", "recording_dropped").Str("task", run.Task).Str("sandbox", run.Sandbox).
		Str("record", string(run.Record)).Bool("ok", run.OK).Int("frames", n).Msg("recording dropped")
	_ = m.Ack()
}

// Forget deletes one run's records and frames, and returns how many frames
// it deleted. Records are purged by subject; frames, whose subject names
// only the sandbox, are found by scanning the run's time in its sandbox.
func Forget(ctx context.Context, js jetstream.JetStream, subj messages.Subjects, run messages.TaskRecord) (int, error) {
	frames, err := js.Stream(ctx, messages.FramesStream)
	if err != nil {
		return 0, fmt.Errorf("recording: forget %s: %w", run.Task, err)
	}
	var seqs []uint64
	from, to := time.Unix(0, run.StartedAt), time.Unix(0, run.EndedAt).Add(requestSlack)
	err = readStream(ctx, js, messages.FramesStream, subj.InferOfSandbox(run.Sandbox), from,
		func(m jetstream.Msg) (bool, error) {
			if msgTime(m).After(to) {
				return false, nil
			}
			if f, err := messages.DecodeFrame(m.Data()); err == nil && f.Task == run.Task &&
				f.CapturedAt >= run.StartedAt && f.CapturedAt <= run.EndedAt {
				meta, _ := m.Metadata()
				seqs = append(seqs, meta.Sequence.Stream)
			}
			return true, nil
		})
	if err != nil {
		return 0, err
	}
	for _, seq := range seqs {
		if err := frames.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, fmt.Errorf("recording: forget %s: delete frame %d: %w", run.Task, seq, err)
		}
	}
	return len(seqs), purgeRecords(ctx, js, subj, run)
}

func purgeRecords(ctx context.Context, js jetstream.JetStream, subj messages.Subjects, run messages.TaskRecord) error {
	records, err := js.Stream(ctx, messages.RecordsStream)
	if err == nil {
		err = records.Purge(ctx, jetstream.WithPurgeSubject(subj.Record(run.Task, run.Sandbox, "*")))
	}
	if err != nil {
		return fmt.Errorf("recording: forget %s: purge records: %w", run.Task, err)
	}
	return nil
}
