package gatewayapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestConflictBackoffIsPerRouter: the back-off is an option of one router and
// the default a fresh value, not a package variable one caller could change
// for every router in the process.
func TestConflictBackoffIsPerRouter(t *testing.T) {
	mine := DefaultConflictBackoff()
	mine.Steps = 1
	assert.Equal(t, 12, DefaultConflictBackoff().Steps, "a caller's copy changes no router")

	assert.Equal(t, DefaultConflictBackoff(), (&Router{}).conflictBackoff(), "zero options: the default")
	custom := wait.Backoff{Steps: 3, Duration: time.Millisecond, Factor: 2}
	assert.Equal(t, custom, (&Router{opts: Options{ConflictBackoff: custom}}).conflictBackoff())
}
