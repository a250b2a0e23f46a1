package flagsmith_test

import (
	"testing"

	"github.com/agentops/progressive/flags/flagtest"
)

func TestConformance(t *testing.T) {
	flagtest.Run(t, func(t *testing.T) flagtest.Fixture { return newWorld(t).fixture() })
}
