package progressive

import "fmt"

// MaxNameLength bounds the names a plan gives its checks, approval gates, hooks
// and steps: they reach approvers, webhook payloads, logs and decision records.
const MaxNameLength = 253

// controlByte returns the index of the first control character of s (a byte
// below 0x20, or DEL) and -1 when it has none.
func controlByte(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return i
		}
	}
	return -1
}

// checkName records the problems of a name shown to people and written to logs
// and records: empty when required, longer than MaxNameLength, or holding a
// control character (a CR or LF forges a line of a log, a header or a message).
func checkName(pr *Problems, field, name string, required bool) {
	switch {
	case name == "":
		if required {
			pr.Add(field, nil, "must not be empty")
		}
	case len(name) > MaxNameLength:
		pr.Add(field, name, "must be at most %d bytes long", MaxNameLength)
	default:
		if i := controlByte(name); i >= 0 {
			pr.Add(field, name, "must not contain control characters (%s at byte %d)", fmt.Sprintf("%U", rune(name[i])), i)
		}
	}
}
