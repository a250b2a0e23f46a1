package flaghttp_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine started by them (a
// runner's loop, a watch, an HTTP server or client connection) is still running
// after the last test: a leak in a long-lived controller process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
