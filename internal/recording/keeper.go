package recording

import (
	"context"
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
	// keeperAckWait leaves a keeper time to purge a run on a slow store.
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
		Str("record", string(run.Record)).Bool("ok", run.OK).Uint64("frames", n).Msg("recording dropped")
	_ = m.Ack()
}

// Forget deletes one run's frames and records, by subject.
func Forget(ctx context.Context, js jetstream.JetStream, subj messages.Subjects,
	run messages.TaskRecord) (uint64, error) {
	var frames uint64
	for _, p := range []struct{ stream, subject string }{
		{messages.FramesStream, subj.Frame(run.Task, run.Sandbox)},
		{messages.RecordsStream, subj.Record(run.Task, run.Sandbox, "*")},
	} {
		s, err := js.Stream(ctx, p.stream)
		if err != nil {
			return 0, fmt.Errorf("recording: forget %s: %w", run.Task, err)
		}
		before, err := s.Info(ctx, jetstream.WithSubjectFilter(p.subject))
		if err == nil {
			err = s.Purge(ctx, jetstream.WithPurgeSubject(p.subject))
		}
		if err != nil {
			return 0, fmt.Errorf("recording: forget %s: purge %s: %w", run.Task, p.stream, err)
		}
		if p.stream == messages.FramesStream {
			frames = before.State.Msgs
		}
	}
	return frames, nil
}
