package stats

import (
	"encoding/json"
	"strings"
	"testing"
)

// A one-sided test never accepts: evidence of health only drives the LLR down,
// and the same regression evidence that rejects a fresh test still rejects it
// once it has climbed back.
func TestRateSPRTOneSidedNeverAccepts(t *testing.T) {
	two, err := NewRateSPRT(RateSPRTConfig{MinRelativeIncrease: 2})
	mustNoErr(t, err)
	one, err := NewRateSPRT(RateSPRTConfig{MinRelativeIncrease: 2, OneSided: true})
	mustNoErr(t, err)
	for range 20 { // healthy ticks: 1 canary error for 9 baseline errors at a 10% share
		v2, err := two.Update(1, 1000, 9, 9000)
		mustNoErr(t, err)
		v1, err := one.Update(1, 1000, 9, 9000)
		mustNoErr(t, err)
		if v1.Decision != Continue {
			t.Fatalf("one-sided test decided %v at tick %d", v1.Decision, v1.Tick)
		}
		if !strings.Contains(v1.String(), "below ln(1/alpha)") || strings.Contains(v1.String(), "ln(beta)") {
			t.Errorf("one-sided explanation: %s", v1)
		}
		near(t, "same LLR while both run", v1.LLR, one.LLR, 0)
		_ = v2
	}
	if two.Decision != AcceptH0 {
		t.Fatalf("the two-sided test should have accepted: %+v", two)
	}
	// A strong regression now: the one-sided test rejects, the accepted one is closed.
	for one.Decision == Continue {
		_, err := one.Update(10, 1000, 9, 9000)
		mustNoErr(t, err)
		if one.Ticks > 100 {
			t.Fatal("never rejected")
		}
	}
	if one.Decision != RejectH0 {
		t.Fatalf("decision %v", one.Decision)
	}
	if v, _ := two.Update(10, 1000, 9, 9000); v.Decision != AcceptH0 {
		t.Fatalf("a decided test stays decided: %v", v.Decision)
	}

	// The flag survives a JSON round trip, so a resumed test stays one-sided.
	b, err := json.Marshal(RateSPRT{Config: RateSPRTConfig{OneSided: true}})
	mustNoErr(t, err)
	var back RateSPRT
	mustNoErr(t, json.Unmarshal(b, &back))
	if !back.Config.OneSided || !strings.Contains(string(b), `"one_sided":true`) {
		t.Fatalf("round trip: %s -> %+v", b, back)
	}
}
