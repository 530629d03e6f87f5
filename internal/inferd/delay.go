package inferd

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/screenfleet/screenfleet/internal/ocr"
	"github.com/screenfleet/screenfleet/pkg/messages"
)

// DelayModelName is the model that stands in for a GPU.
const DelayModelName = "delay"

// DelayConfig configures the delay model: one batch of n images takes
// Base + PerItem * sqrt(n), the sub-linear batch cost of a GPU, and batches
// run one at a time, as on one model instance.
type DelayConfig struct {
	Base    time.Duration
	PerItem time.Duration
}

// enabled reports whether the delay model is served.
func (c DelayConfig) enabled() bool { return c.Base > 0 || c.PerItem > 0 }

// cost is the service time of a batch of n.
func (c DelayConfig) cost(n int) time.Duration {
	return c.Base + time.Duration(float64(c.PerItem)*math.Sqrt(float64(n)))
}

// delayModel answers after the configured service time with one box per
// image whose text is the image's size in bytes, so a client can tell the
// replies apart.
type delayModel struct {
	cfg      DelayConfig
	maxBatch int
	busy     sync.Mutex // one batch at a time, like one model instance
}

func (m *delayModel) Name() string { return DelayModelName }

func (m *delayModel) Metadata() ModelInfo { return ModelInfo{MaxBatch: m.maxBatch, Backend: "delay"} }

func (m *delayModel) Infer(ctx context.Context, images [][]byte) ([][]messages.Box, error) {
	m.busy.Lock()
	defer m.busy.Unlock()
	timer := time.NewTimer(m.cfg.cost(len(images)))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	out := make([][]messages.Box, len(images))
	for i, img := range images {
		out[i] = []messages.Box{{W: 1, H: 1, Text: fmt.Sprintf("%d bytes", len(img)), Conf: 1}}
	}
	return out, nil
}

// builtinModels are the models every inferd serves: OCR, element detection
// in both forms, and the delay model when configured.
func builtinModels(cfg Config, pool *ocr.Pool) []served {
	models := []served{
		&ocrModel{pool: pool, maxBatch: cfg.MaxBatch},
		elementsModel{maxBatch: cfg.MaxBatch},
		elementsYOLO{maxBatch: cfg.MaxBatch},
	}
	if cfg.Delay.enabled() {
		models = append(models, &delayModel{cfg: cfg.Delay, maxBatch: cfg.MaxBatch})
	}
	return models
}
