package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/seatline/seatline/domain"
	"github.com/seatline/seatline/projections"
)

// errorBody is the error shape of every failed request.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string         `json:"code"`
	Message   string         `json:"message"`
	Details   map[string]any `json:"details,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
}

var statusOf = map[domain.Kind]int{
	domain.Invalid:      http.StatusUnprocessableEntity,
	domain.NotFound:     http.StatusNotFound,
	domain.Conflict:     http.StatusConflict,
	domain.Unauthorized: http.StatusUnauthorized,
	domain.Forbidden:    http.StatusForbidden,
	domain.RateLimited:  http.StatusTooManyRequests,
	domain.Unavailable:  http.StatusServiceUnavailable,
}

// Errors raised by the HTTP layer itself.
var (
	errMalformed      = &domain.Error{Kind: domain.Invalid, Code: "malformed-request", Msg: "the request body is not valid JSON of the expected shape"}
	errUnauthorized   = &domain.Error{Kind: domain.Unauthorized, Code: "unauthorized", Msg: "a valid bearer token is required"}
	errForbidden      = &domain.Error{Kind: domain.Forbidden, Code: "forbidden", Msg: "this needs the admin role"}
	errNotFound       = &domain.Error{Kind: domain.NotFound, Code: "not-found", Msg: "no such resource"}
	errBadCursor      = &domain.Error{Kind: domain.Invalid, Code: "invalid-cursor", Msg: "the cursor is not one this API handed out"}
	errNotCaughtUp    = &domain.Error{Kind: domain.Unavailable, Code: "not-caught-up", Msg: "the read model has not reached the requested position yet"}
	errNoRebuild      = projections.ErrNoRebuild
	errNotReady       = &domain.Error{Kind: domain.Unavailable, Code: "not-ready", Msg: "a dependency does not answer"}
	errMethodNotAllow = &domain.Error{Kind: domain.Invalid, Code: "method-not-allowed", Msg: "method not allowed on this resource"}
)

// fail writes err as the response. Malformed requests are 400, domain
// errors take their kind's status, everything else is a logged 500 whose
// body only carries the request id.
func fail(c *gin.Context, err error) {
	var de *domain.Error
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, errMalformed), errors.Is(err, errBadCursor), errors.Is(err, projections.ErrBadCursor):
		if !errors.As(err, &de) {
			de = errBadCursor
		}
		status = http.StatusBadRequest
	case errors.Is(err, errMethodNotAllow):
		de, status = errMethodNotAllow, http.StatusMethodNotAllowed
	case errors.As(err, &de) && de.Kind != domain.Internal:
		status = statusOf[de.Kind]
	default:
		de = &domain.Error{Code: "internal", Msg: "internal error; quote the request id when reporting it"}
		logger(c).Error("request failed", "err", err, "status", status)
	}
	switch status {
	case http.StatusServiceUnavailable:
		c.Header("Retry-After", "1")
	case http.StatusTooManyRequests:
		secs := 60
		if v, ok := de.Details["retry_after_seconds"].(int); ok && v > 0 {
			secs = v
		}
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{
		Code: de.Code, Message: de.Msg, Details: de.Details, RequestID: requestID(c),
	}})
}

func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}
