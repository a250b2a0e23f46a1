package rollout

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/agentops/progressive"
	"github.com/stretchr/testify/assert"
)

func TestSlogObserverWritesOneStructuredLine(t *testing.T) {
	var buf bytes.Buffer
	o := SlogObserver{Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	routes := progressive.WeightedRoutes(10)
	o.Observe(context.Background(), Event{Rollout: "payment-service-v2", Type: EventRoutesChanged, Step: 1, StepKind: progressive.KindSetWeight, Phase: PhaseProgressing, Message: "routes set", Routes: &routes})
	o.Observe(context.Background(), Event{Rollout: "payment-service-v2", Type: EventRollbackStarted, Phase: PhaseRollingBack, Message: "analysis failed"})
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if assert.Len(t, lines, 2) {
		assert.Contains(t, string(lines[0]), "level=INFO")
		assert.Contains(t, string(lines[0]), "rollout=payment-service-v2")
		assert.Contains(t, string(lines[0]), "canaryWeight=10")
		assert.Contains(t, string(lines[0]), "kind=setWeight")
		assert.Contains(t, string(lines[1]), "level=WARN", "a rollback is worth a warning")
	}
}
