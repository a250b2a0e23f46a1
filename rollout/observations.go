package rollout

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/agentops/progressive/analysis"
)

// ObservationLog is implemented by stores that keep measurements apart from the
// state. A flag rollout that soaks for days measures thousands of times; appending
// them to a log keeps each state write small instead of rewriting every
// observation at every tick. Stores without it keep the newest
// MaxInlineObservations measurements inside the state.
type ObservationLog interface {
	// AppendObservations stores obs; first is the sequence number of obs[0] among
	// all measurements of id. A process that dies after appending a tick but
	// before saving the state appends that tick again under the same numbers,
	// and the later copy replaces the earlier one.
	AppendObservations(ctx context.Context, id string, first int, obs []analysis.Measurement) error
	// Observations returns the measurements of id in the order they were taken.
	Observations(ctx context.Context, id string) ([]analysis.Measurement, error)
}

// MaxInlineObservations bounds the measurements kept in a state whose store has no
// ObservationLog.
const MaxInlineObservations = 2000

// numbered is one logged measurement with its sequence number.
type numbered struct {
	Seq         int                  `json:"seq"`
	Measurement analysis.Measurement `json:"measurement"`
}

// inSequence orders logged measurements by number, the last copy of a number
// winning (see AppendObservations).
func inSequence(in []numbered) []analysis.Measurement {
	bySeq := make(map[int]analysis.Measurement, len(in))
	maxSeq := -1
	for _, n := range in {
		bySeq[n.Seq] = n.Measurement
		maxSeq = max(maxSeq, n.Seq)
	}
	out := make([]analysis.Measurement, 0, len(bySeq))
	for i := 0; i <= maxSeq; i++ {
		if m, ok := bySeq[i]; ok {
			out = append(out, m)
		}
	}
	return out
}

// AppendObservations implements ObservationLog.
func (m *MemoryStore) AppendObservations(_ context.Context, id string, first int, obs []analysis.Measurement) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.observations == nil {
		m.observations = map[string][]numbered{}
	}
	for i, o := range obs {
		m.observations[id] = append(m.observations[id], numbered{Seq: first + i, Measurement: o})
	}
	return nil
}

// Observations implements ObservationLog.
func (m *MemoryStore) Observations(_ context.Context, id string) ([]analysis.Measurement, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return inSequence(m.observations[id]), nil
}

func (f *FileStore) observationsPath(id string) (string, error) {
	p, err := f.path(id)
	if err != nil {
		return "", err
	}
	return p[:len(p)-len(".json")] + ".observations.jsonl", nil
}

// AppendObservations implements ObservationLog with one JSON line per measurement.
func (f *FileStore) AppendObservations(_ context.Context, id string, first int, obs []analysis.Measurement) error {
	p, err := f.observationsPath(id)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	file, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append observations of %q: %w", id, err)
	}
	w := bufio.NewWriter(file)
	enc := json.NewEncoder(w)
	for i, m := range obs {
		if err := enc.Encode(numbered{Seq: first + i, Measurement: m}); err != nil {
			file.Close()
			return fmt.Errorf("append observations of %q: %w", id, err)
		}
	}
	if err := w.Flush(); err != nil {
		file.Close()
		return fmt.Errorf("append observations of %q: %w", id, err)
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return fmt.Errorf("append observations of %q: %w", id, err)
	}
	return file.Close()
}

// Observations implements ObservationLog. A torn last line (a crash mid-append) is
// ignored: that tick is measured again after the restart.
func (f *FileStore) Observations(_ context.Context, id string) ([]analysis.Measurement, error) {
	p, err := f.observationsPath(id)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	file, err := os.Open(p)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read observations of %q: %w", id, err)
	}
	defer file.Close()
	var out []numbered
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var n numbered
		if json.Unmarshal(sc.Bytes(), &n) != nil {
			continue
		}
		out = append(out, n)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read observations of %q: %w", id, err)
	}
	return inSequence(out), nil
}

// observe keeps a tick's measurements: in the store's log when it has one,
// otherwise in the state, newest MaxInlineObservations only.
func (x *exec) observe(ctx context.Context, ms []analysis.Measurement) error {
	if len(ms) == 0 {
		return nil
	}
	first := x.st.Record.Impact.Measurements
	x.st.Record.Impact.Measurements += len(ms)
	if log, ok := x.r.opts.Store.(ObservationLog); ok {
		if err := log.AppendObservations(ctx, x.st.ID, first, ms); err != nil {
			return fmt.Errorf("rollout %s: %w", x.st.ID, err)
		}
		return nil
	}
	obs := append(x.st.Record.Observations, ms...)
	if over := len(obs) - MaxInlineObservations; over > 0 {
		obs = append(obs[:0:0], obs[over:]...)
	}
	x.st.Record.Observations = obs
	return nil
}

// fullRecord returns st's record with the observations from the store's log.
func (r *Runner) fullRecord(ctx context.Context, st State) (DecisionRecord, error) {
	rec := st.Record
	if log, ok := r.opts.Store.(ObservationLog); ok {
		obs, err := log.Observations(ctx, st.ID)
		if err != nil {
			return DecisionRecord{}, err
		}
		rec.Observations = append(append([]analysis.Measurement{}, rec.Observations...), obs...)
	}
	if rec.Observations == nil {
		rec.Observations = []analysis.Measurement{}
	}
	return rec, nil
}
