package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tagdrift/tagdrift/scanner/kubeconfig"
	"github.com/tagdrift/tagdrift/store"
)

// problem is an RFC 9457 problem detail, the body of every API error.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// httpError is an error whose status and detail are meant for the client: validation
// failures, missing rights, limits.
type httpError struct {
	status int
	detail string
	header http.Header // extra response headers (WWW-Authenticate, Retry-After, Allow)
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.detail) }

func newHTTPError(status int, format string, args ...any) *httpError {
	return &httpError{status: status, detail: fmt.Sprintf(format, args...)}
}

// badRequest is a 400 for a request the client must change.
func badRequest(format string, args ...any) error {
	return newHTTPError(http.StatusBadRequest, format, args...)
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

// about wraps err once with its subject; nil stays nil.
func about(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &subjectError{subject: fmt.Sprintf(format, args...), err: err}
}

// handlerFunc is an API handler: it writes a response and returns nil, or returns an
// error and writes nothing.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc, turning its error into a problem response.
func (a *api) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	}
}

// fail is the one place that maps errors to statuses: client errors keep their detail,
// store.ErrNotFound is 404, store.ErrConflict is 409, a rejected kubeconfig is 400 naming
// the field, a body too large is 413, and anything else is a 500 whose real error is
// logged, never shown.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		he      *httpError
		fe      *kubeconfig.FieldError
		tooBig  *http.MaxBytesError
		subject *subjectError
	)
	name := "request"
	if errors.As(err, &subject) {
		name = subject.subject
	}
	switch {
	case errors.As(err, &he):
		for k, v := range he.header {
			w.Header()[k] = v
		}
		writeProblem(w, he.status, he.detail)
	case errors.As(err, &fe):
		// kubeconfig.Vet never quotes a secret in its reasons (tested there).
		writeProblem(w, http.StatusBadRequest, fe.Error())
	case errors.As(err, &tooBig):
		writeProblem(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
	case errors.Is(err, store.ErrNotFound):
		writeProblem(w, http.StatusNotFound, name+" not found")
	case errors.Is(err, store.ErrConflict):
		writeProblem(w, http.StatusConflict, name+" already exists")
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
		a.log.Debug("request cancelled", "method", r.Method, "path", r.URL.Path)
		writeProblem(w, http.StatusServiceUnavailable, "request cancelled")
	default:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err.Error())
		writeProblem(w, http.StatusInternalServerError, "internal error: the server logged the cause")
	}
}

// writeProblem writes an application/problem+json response.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	// A problem of strings always encodes.
	b, _ := encodeJSON(problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	w.Write(b)
}

// respond encodes v to a buffer before writing headers, so that an encoding error is a
// clean 500 rather than half a body.
func respond(w http.ResponseWriter, status int, v any) error {
	b, err := encodeJSON(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// A write error means the client went away: headers are sent, nothing more to say.
	w.Write(b)
	return nil
}
