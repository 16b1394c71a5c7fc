package domain

import "fmt"

// Kind classifies an error for callers that must react to it, such as the
// HTTP layer choosing a status code.
type Kind int

// The error kinds. Internal is the zero value so that an unclassified
// *Error never leaks as a client error.
const (
	Internal     Kind = iota
	Invalid           // valid syntax, unacceptable values (422)
	NotFound          // the thing does not exist or is not visible to the caller (404)
	Conflict          // the command contradicts current state (409)
	Unauthorized      // missing or bad credentials (401)
	Forbidden         // authenticated but not allowed (403)
	RateLimited       // too many attempts (429)
	Unavailable       // try again later (503)
)

// Error is a domain error with a stable machine-readable Code. Two errors
// are the same (errors.Is) when their codes are equal, so a sentinel such as
// show.ErrSeatUnavailable matches an instance that carries details.
type Error struct {
	Kind    Kind
	Code    string
	Msg     string
	Details map[string]any
}

func (e *Error) Error() string { return e.Msg }

// Is reports whether target is a *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// With returns a copy of e carrying the given detail.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// Withf returns a copy of e whose message has the formatted text appended.
func (e *Error) Withf(format string, args ...any) *Error {
	c := *e
	c.Msg = e.Msg + ": " + fmt.Sprintf(format, args...)
	return &c
}

// NewInvalid returns an Invalid error for one field, with the field named in
// the details so that clients can point at it.
func NewInvalid(code, field, msg string) *Error {
	return &Error{Kind: Invalid, Code: code, Msg: msg, Details: map[string]any{"field": field}}
}
