//go:build failpoints

package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// failpoint returns the hook that crash tests use to kill the process at
// named points (FAILPOINTS=payment.after-charge,...). Only test builds
// (go build -tags failpoints) have it; a production binary ignores
// FAILPOINTS.
func failpoint() func(string) {
	set := map[string]bool{}
	for _, n := range strings.Split(os.Getenv("FAILPOINTS"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			set[n] = true
		}
	}
	return func(name string) {
		if set[name] {
			fmt.Fprintf(os.Stderr, "failpoint %s: killing the process\n", name)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
