// Package httpapi is the REST API (gin) under /api/v1: it binds requests,
// builds commands or queries, calls them and writes JSON. It holds no
// business rule. Errors leave through one function that maps domain error
// kinds to status codes; internal errors become a 500 with the request id
// and never show their text.
package httpapi
