//go:build !failpoints

package main

// failpoint is nil in production builds: see failpoints.go.
func failpoint() func(string) { return nil }
