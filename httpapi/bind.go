package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/eventstore"
)

// bind decodes a JSON body into v. Syntax errors, wrong types and trailing
// data are 400; it writes the error and returns false.
func bind(c *gin.Context, v any) bool {
	dec := json.NewDecoder(c.Request.Body)
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON value")
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		fail(c, errMalformed.Withf("the body exceeds %d bytes", tooBig.Limit))
	case errors.Is(err, io.EOF):
		fail(c, errMalformed.Withf("the body is empty"))
	case errors.As(err, &typeErr):
		fail(c, errMalformed.Withf("field %q must be %s", typeErr.Field, typeErr.Type).With("field", typeErr.Field))
	default:
		fail(c, errMalformed.Withf("%v", err))
	}
	return false
}

// required fails with 422 naming the first empty field.
func required(c *gin.Context, fields ...any) bool {
	for i := 0; i+1 < len(fields); i += 2 {
		name, v := fields[i].(string), fields[i+1]
		empty := false
		switch v := v.(type) {
		case string:
			empty = strings.TrimSpace(v) == ""
		case []string:
			empty = len(v) == 0
		case time.Time:
			empty = v.IsZero()
		case nil:
			empty = true
		}
		if empty {
			fail(c, domain.NewInvalid("missing-field", name, fmt.Sprintf("%s is required", name)))
			return false
		}
	}
	return true
}

// invalidParam is the 422 of a query parameter that does not parse.
func invalidParam(name, want string) error {
	return domain.NewInvalid("invalid-parameter", name, fmt.Sprintf("query parameter %s must be %s", name, want))
}

// meta is the event metadata of a command sent by this request.
func meta(c *gin.Context) eventstore.Metadata {
	actor := "anonymous"
	if p := principal(c); p.UserID != "" {
		actor = p.Role + ":" + p.UserID
	}
	return eventstore.Metadata{CorrelationID: requestID(c), CausationID: requestID(c), Actor: actor}
}

// limit reads the limit query parameter (default 20, 1..100).
func limit(c *gin.Context) (int, error) {
	s := c.Query("limit")
	if s == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 100 {
		return 0, invalidParam("limit", "an integer from 1 to 100")
	}
	return n, nil
}

// list is the shape of every list response.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}
