package kubernetes_test

import "fmt"

var sprintf = fmt.Sprintf

// runHelperProcess runs a child process's job when the test binary was started
// as one (see lease tests) and reports whether it did.
func runHelperProcess() bool { return false }
