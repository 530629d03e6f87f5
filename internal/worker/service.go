package worker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/micro"
)

// ServiceName is the NATS service every worker registers as, so that
// `nats micro ls sf-worker`, `nats micro stats sf-worker` and `sfctl workers`
// list them.
const ServiceName = "sf-worker"

// serviceVersion is the version the service reports: that of the worker's
// wire behaviour (batching, adapters), which micro requires to be semver.
const serviceVersion = "0.4.0"

// ModelStatus is what a model's service endpoint answers, and the data of
// its stats: how the worker serves the model and how it has gone.
type ModelStatus struct {
	Model    string `json:"model"`
	Ready    bool   `json:"ready"`
	Adapter  string `json:"adapter"`
	MaxBatch int    `json:"max_batch"`
	StatsData
}

// register adds the worker as a NATS service with one endpoint per model.
// The endpoints answer status requests; frames travel on the models' own
// subjects and queue groups (named in each endpoint's metadata), which the
// worker joins and leaves with its backend's readiness, something a micro
// endpoint cannot do. The stats of each endpoint carry the model's frames,
// mean batch and latency percentiles as data.
func (w *Worker) register() error {
	svc, err := micro.AddService(w.nc, micro.Config{
		Name:         ServiceName,
		Version:      serviceVersion,
		Description:  "screenfleet inference worker",
		Metadata:     w.serviceMetadata(),
		StatsHandler: func(e *micro.Endpoint) any { return w.Status(e.Name) },
	})
	if err != nil {
		return fmt.Errorf("register nats service: %w", err)
	}
	for _, m := range w.models {
		err := svc.AddEndpoint(m.name, micro.HandlerFunc(func(r micro.Request) {
			_ = r.RespondJSON(w.Status(m.name))
		}), micro.WithEndpointSubject(w.statusSubject(m.name)), micro.WithEndpointQueueGroupDisabled(),
			micro.WithEndpointMetadata(map[string]string{
				"model":       m.name,
				"subject":     w.subjects.InferAll(m.name),
				"queue_group": w.subjects.InferQueue(m.name),
			}))
		if err != nil {
			_ = svc.Stop()
			return fmt.Errorf("register nats service endpoint %s: %w", m.name, err)
		}
	}
	w.service = svc
	return nil
}

func (w *Worker) serviceMetadata() map[string]string {
	return map[string]string{
		"worker":        w.cfg.ID,
		"gpu":           w.cfg.GPU,
		"backend":       w.cfg.BackendAddr,
		"models":        strings.Join(w.cfg.Models, ","),
		"max_batch":     strconv.Itoa(w.cfg.MaxBatch),
		"max_wait":      w.cfg.MaxWait.String(),
		"max_in_flight": strconv.Itoa(w.cfg.MaxInFlight),
	}
}

// statusSubject is where a model's endpoint answers: one subject per
// worker and model, so a status request reaches exactly that worker.
func (w *Worker) statusSubject(model string) string {
	return w.subjects.WorkerStatus(subjectToken(w.cfg.ID), model)
}

// subjectToken replaces what cannot appear in a subject token.
func subjectToken(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(".*> \t\r\n", r) {
			return '_'
		}
		return r
	}, s)
}

// Status reports how the worker serves the model called name and how it
// has gone; a model it does not serve has only its name set.
func (w *Worker) Status(name string) ModelStatus {
	for _, m := range w.models {
		if m.name != name {
			continue
		}
		ad := m.adapterOr(w.defaultAdapter(name))
		return ModelStatus{Model: name, Ready: w.subscribed(m), Adapter: ad.kind(), MaxBatch: m.batchSize(w.cfg.MaxBatch),
			StatsData: m.stats.snapshot()}
	}
	return ModelStatus{Model: name}
}

// unregister stops answering as a service.
func (w *Worker) unregister() {
	if w.service == nil {
		return
	}
	if err := w.service.Stop(); err != nil {
		w.log.Warn().Err(err).Msg("unregister nats service")
	}
}
