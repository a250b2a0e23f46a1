package progressive

// Warning is something a plan will do that a person should read before approving
// it, but that does not make the plan invalid: a threshold the expected traffic
// cannot support, a query whose numerator does not exist yet, a step that lasts
// longer than its soak because its window does. Explain lists them, DryRun adds
// what it measured, and Validate never fails on them.
type Warning struct {
	// Field is the path of what the warning is about (steps[2], checks[0].query).
	Field string `json:"field"`
	// Message says what will happen and what to do about it.
	Message string `json:"message"`
}

func (w Warning) String() string {
	if w.Field == "" {
		return w.Message
	}
	return w.Field + ": " + w.Message
}

// TrafficEstimate is what the plan's author expects the service to serve, so
// that Explain and Lint can tell whether a weight can support a check's
// threshold. DryRun measures it instead when a check has a Samples query.
type TrafficEstimate struct {
	// RequestsPerSecond across stable and canary.
	RequestsPerSecond float64 `json:"requestsPerSecond"`
}
