package sim

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

// DefaultTick is the step Drive and AdvanceUntil use for a tick of zero or less.
const DefaultTick = time.Second

// spinsBeforeSleep is how many times an idle driver yields before it sleeps.
const spinsBeforeSleep = 64

// settleTimeout bounds, in real time, how long a driver waits after a step for the
// goroutines it woke to wait on the clock again.
const settleTimeout = time.Millisecond

// idleSleep is the real-time nap of an idle driver, so it does not burn a CPU.
const idleSleep = 20 * time.Microsecond

// Drive runs fc in the background: whenever something waits on it (a timer, an
// After, a Sleep) it steps the clock by tick, then yields so the woken goroutine
// runs. A rollout that waits on clock timers between its ticks thus runs an hour of
// virtual time in milliseconds. stop ends the driver and waits for it; it may be
// called more than once. Cancelling ctx ends it too.
//
// After a step that fired a timer, the driver waits (up to a millisecond of real
// time) until the woken goroutine waits on the clock again, so virtual time does
// not run ahead of the code under test while it works. Time advances in whole ticks,
// so a wait ends up to one tick late. A ticker always waits: with one running, the
// clock advances as fast as the code consumes its ticks or the settle bound allows.
func Drive(ctx context.Context, fc *testingclock.FakeClock, tick time.Duration) (stop func()) {
	if tick <= 0 {
		tick = DefaultTick
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		idle := 0
		for ctx.Err() == nil {
			if step(ctx, fc, tick) {
				idle = 0
			} else {
				idle++
			}
			pause(idle)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(cancel)
		<-done
	}
}

// ErrNotDone is wrapped by AdvanceUntil's error when its virtual-time budget ran out.
var ErrNotDone = errors.New("condition not met")

// AdvanceUntil steps fc by tick whenever something waits on it, in the caller's
// goroutine, until done reports true (it returns nil), limit of virtual time has
// passed (an error wrapping ErrNotDone) or ctx ends (its error). done is called
// between steps and must not block.
func AdvanceUntil(ctx context.Context, fc *testingclock.FakeClock, tick, limit time.Duration, done func() bool) error {
	if tick <= 0 {
		tick = DefaultTick
	}
	start := fc.Now()
	idle := 0
	for {
		if done() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sim: advance: %w", err)
		}
		if elapsed := fc.Since(start); elapsed >= limit {
			return fmt.Errorf("sim: advance: after %s of virtual time: %w", elapsed, ErrNotDone)
		}
		if step(ctx, fc, tick) {
			idle = 0
		} else {
			idle++
		}
		pause(idle)
	}
}

// step advances fc by tick when something waits on it, then lets the goroutines it
// woke catch up: it waits, up to settleTimeout of real time, until as many waiters
// are registered as before the step (the woken loop has come round to its next
// wait). It reports whether it stepped.
func step(ctx context.Context, fc *testingclock.FakeClock, tick time.Duration) bool {
	before := fc.Waiters()
	if before == 0 {
		return false
	}
	fc.Step(tick)
	start := time.Now()
	for spins := 1; fc.Waiters() < before && ctx.Err() == nil && time.Since(start) < settleTimeout; spins++ {
		pause(spins)
	}
	return true
}

// pause yields to other goroutines, sleeping briefly once the driver has been idle.
func pause(idle int) {
	if idle < spinsBeforeSleep {
		runtime.Gosched()
		return
	}
	time.Sleep(idleSleep)
}
