package recording

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/screenfleet/screenfleet/pkg/messages"
)

// recordsOutlive is how many times longer records are kept than frames:
// records are small, and a replay of frames that are gone can then say that
// they were dropped, and when, rather than that nothing was recorded.
const recordsOutlive = 4

// streamConfigs returns the FRAMES and RECORDS streams for cfg.
func streamConfigs(subj messages.Subjects, cfg Config) (frames, records jetstream.StreamConfig) {
	frames = jetstream.StreamConfig{
		Name:        messages.FramesStream,
		Description: "screenfleet frames sent for inference (copies the agents publish), kept for replay",
		Subjects:    []string{subj.FramesAll()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.MaxAge,
		MaxBytes:    cfg.MaxBytes,
		Replicas:    cfg.Replicas,
	}
	records = jetstream.StreamConfig{
		Name:        messages.RecordsStream,
		Description: "screenfleet detections, actions and run ends (messages.*Record)",
		Subjects:    []string{subj.RecordsAll()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		MaxAge:      cfg.MaxAge * recordsOutlive,
		MaxBytes:    max(cfg.MaxBytes/10, 1<<20),
		Replicas:    cfg.Replicas,
	}
	return frames, records
}

// EnsureStreams creates the FRAMES and RECORDS streams, or brings their
// limits up to date, unless cfg.Mode is ModeOff.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, subj messages.Subjects, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if cfg.Mode == ModeOff {
		return nil
	}
	frames, records := streamConfigs(subj, cfg)
	for _, sc := range []jetstream.StreamConfig{frames, records} {
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("recording: stream %s: %w", sc.Name, err)
		}
	}
	return nil
}
