package request

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// Problem is an RFC 9457 problem detail, the body of every API error.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// Error is an error whose status and detail are meant for the client: validation
// failures, missing rights, limits.
type Error struct {
	Status int
	Detail string
	Header http.Header // extra response headers (WWW-Authenticate, Retry-After, Allow)
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Detail) }

// Errorf is an Error of status whose detail is format with args.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Detail: fmt.Sprintf(format, args...)}
}

// BadRequest is a 400 for a request the client must change.
func BadRequest(format string, args ...any) error {
	return Errorf(http.StatusBadRequest, format, args...)
}

// subjectError names what an operation was about (`cluster "prod"`), so that the one
// place mapping errors can say "cluster "prod" not found" without parsing the store's
// messages.
type subjectError struct {
	subject string
	err     error
}

func (e *subjectError) Error() string { return e.subject + ": " + e.err.Error() }
func (e *subjectError) Unwrap() error { return e.err }

// About wraps err once with its subject; nil stays nil.
func About(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &subjectError{subject: fmt.Sprintf(format, args...), err: err}
}

// Cause says whose an error is: the client's (its detail is shown), nobody's (the
// client went away) or the server's (its detail is logged, never shown).
type Cause int

const (
	// ClientError: the detail is meant for the client.
	ClientError Cause = iota
	// Cancelled: the client went away; nobody reads the answer.
	Cancelled
	// ServerError: the real error is logged, never shown.
	ServerError
)

// Failure is what an error means for the answer.
type Failure struct {
	Status int
	Detail string
	Header http.Header
	Cause  Cause
}

// Classify is the one place that maps errors to statuses, for the API's problems and
// the UI's error pages alike: client errors (*Error) keep their detail and headers,
// store.ErrNotFound is 404, store.ErrConflict is 409, store.ErrNotAllowed is 409 with
// the store's reason, a rejected kubeconfig is 400 naming the field, a body too large
// is 413, a request the client cancelled is 503, and anything else is a 500. what
// names the request's subject when no About did ("request", "page").
func Classify(r *http.Request, err error, what string) Failure {
	var (
		he      *Error
		fe      *kubeconfig.FieldError
		tooBig  *http.MaxBytesError
		subject *subjectError
	)
	name := what
	if errors.As(err, &subject) {
		name = subject.subject
	}
	switch {
	case errors.As(err, &he):
		return Failure{Status: he.Status, Detail: he.Detail, Header: he.Header}
	case errors.As(err, &fe):
		// kubeconfig.Vet never quotes a secret in its reasons (tested there).
		return Failure{Status: http.StatusBadRequest, Detail: fe.Error()}
	case errors.As(err, &tooBig):
		return Failure{Status: http.StatusRequestEntityTooLarge, Detail: fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)}
	case errors.Is(err, store.ErrInvalidGroupName):
		return Failure{Status: http.StatusBadRequest, Detail: store.ErrInvalidGroupName.Error()}
	case errors.Is(err, store.ErrNotFound):
		return Failure{Status: http.StatusNotFound, Detail: name + " not found"}
	case errors.Is(err, store.ErrConflict):
		return Failure{Status: http.StatusConflict, Detail: name + " already exists"}
	case errors.Is(err, store.ErrNotAllowed):
		// The store's words say why (an acknowledgement that is not requested any
		// more, a mutation resolved); they name records, never secrets.
		inner := err
		if subject != nil {
			inner = subject.err
		}
		return Failure{Status: http.StatusConflict, Detail: strings.TrimSuffix(inner.Error(), ": "+store.ErrNotAllowed.Error())}
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		return Failure{Status: http.StatusServiceUnavailable, Detail: "request cancelled", Cause: Cancelled}
	}
	return Failure{Status: http.StatusInternalServerError, Detail: "internal error: the server logged the cause", Cause: ServerError}
}

// Fail answers err as a problem response (Classify), logging a server error's cause.
func Fail(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	f := Classify(r, err, "request")
	switch f.Cause {
	case Cancelled:
		log.Debug("request cancelled", "method", r.Method, "path", r.URL.Path)
	case ServerError:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	for k, v := range f.Header {
		w.Header()[k] = v
	}
	writeProblem(w, f.Status, f.Detail)
}

// writeProblem writes an application/problem+json response.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	// A problem of strings always encodes.
	b, _ := EncodeJSON(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	w.Write(b)
}

// Respond encodes v to a buffer before writing headers, so that an encoding error is a
// clean 500 rather than half a body.
func Respond(w http.ResponseWriter, status int, v any) error {
	b, err := EncodeJSON(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A write error means the client went away: headers are sent, nothing more to say.
	w.Write(b)
	return nil
}

// EncodeJSON encodes v as every answer is: without HTML escaping, ending in a newline.
func EncodeJSON(v any) ([]byte, error) {
	if b, ok := v.(EncodedJSON); ok {
		return b, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return buf.Bytes(), nil
}

// EncodedJSON is an answer already encoded as EncodeJSON encodes it: written as it is.
type EncodedJSON []byte
