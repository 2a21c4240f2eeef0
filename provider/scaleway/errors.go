package scaleway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/scaleway/scaleway-sdk-go/scw"

	"bootstrap/provider"
)

// PartialError is returned by Create when it fails after something billable
// exists: Resources says exactly what (it was saved too), so that the user
// can rerun to resume or destroy it.
type PartialError struct {
	Step      string // what was being done, e.g. "wait for server to run"
	Resources Resources
	Err       error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("%s: %v; created so far (billed until destroyed): %s", e.Step, e.Err, e.Resources)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Billed says what exists and is billed.
func (e *PartialError) Billed() string { return e.Resources.String() }

// isNotFound reports a 404 from the API.
func isNotFound(err error) bool {
	var nf *scw.ResourceNotFoundError
	if errors.As(err, &nf) {
		return true
	}
	var re *scw.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// httpStatus returns the status of an API error answer, or 0 if err is not
// one (a transport error, a cancelled context...). The SDK's typed errors
// do not keep the status; they all come from 4xx answers.
func httpStatus(err error) int {
	var re *scw.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	var (
		invalid   *scw.InvalidArgumentsError
		notFound  *scw.ResourceNotFoundError
		quota     *scw.QuotasExceededError
		denied    *scw.PermissionsDeniedError
		transient *scw.TransientStateError
		locked    *scw.ResourceLockedError
		stock     *scw.OutOfStockError
		expired   *scw.ResourceExpiredError
		auth      *scw.DeniedAuthenticationError
		precond   *scw.PreconditionFailedError
	)
	switch {
	case errors.As(err, &invalid):
		return http.StatusBadRequest
	case errors.As(err, &notFound):
		return http.StatusNotFound
	case errors.As(err, &auth):
		return http.StatusUnauthorized
	case errors.As(err, &quota), errors.As(err, &denied):
		return http.StatusForbidden
	case errors.As(err, &transient), errors.As(err, &locked), errors.As(err, &stock):
		return http.StatusConflict
	case errors.As(err, &expired):
		return http.StatusGone
	case errors.As(err, &precond):
		return http.StatusPreconditionFailed
	}
	return 0
}

func isHTTPError(err error) bool { return httpStatus(err) != 0 }

// rejected reports whether the API answered with a 4xx other than 429: the
// request was refused, so a create certainly did not happen. Anything else
// (5xx, lost connection, timeout) leaves a create uncertain.
func rejected(err error) bool {
	s := httpStatus(err)
	return s >= 400 && s < 500 && s != http.StatusTooManyRequests
}

// busy reports the API's answers for a resource in the middle of another
// change: 409 transient_state and 412 precondition_failed (such as
// resource_still_in_use), typed by the SDK (scw/errors.go) or not. They are
// worth polling through.
func busy(err error) bool {
	var (
		ts *scw.TransientStateError
		pf *scw.PreconditionFailedError
		re *scw.ResponseError
	)
	switch {
	case errors.As(err, &ts), errors.As(err, &pf):
		return true
	case errors.As(err, &re):
		return re.StatusCode == http.StatusConflict || re.StatusCode == http.StatusPreconditionFailed
	}
	return false
}

// transient reports errors worth polling through while ctx is alive: rate
// limits, server errors and transport errors (a timed out attempt too).
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	s := httpStatus(err)
	return s == 0 || s == http.StatusTooManyRequests || s >= 500
}

// apiFailure reports a failure of the API itself: unreachable, a 5xx or
// 429 once the retries ran out, or the credentials refused. Not a refusal
// of what was asked (an unknown type, a missing resource).
func apiFailure(err error) bool {
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return true
	}
	s := httpStatus(err)
	return s == http.StatusUnauthorized || s == http.StatusForbidden || s == http.StatusTooManyRequests || s >= 500
}

// wrapAPI marks an API failure as a *provider.APIError (once).
func wrapAPI(err error) error {
	var a *provider.APIError
	if err == nil || errors.As(err, &a) || errors.Is(err, context.Canceled) || !apiFailure(err) {
		return err
	}
	return &provider.APIError{Err: err}
}
