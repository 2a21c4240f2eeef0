package scaleway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/go-retryablehttp"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// Retry configures the HTTP client under the SDK (which retries nothing).
//
// Policy: a 429 is retried for every method; 5xx answers and connection
// errors or timeouts only for requests that are not POSTs. A POST that
// creates something (an IP, a server) or starts an action may have been
// carried out even though its answer was a 502 or never arrived, so
// repeating it could create a second server: such failures go back to the
// caller, which looks the resource up by its tags (see Provider.Create). A
// 429 is safe to repeat because Scaleway's API gateway refuses the request
// before it reaches the service (the answer has no body and no Retry-After).
// PATCH (user data), GET and DELETE are idempotent and always retried.
type Retry struct {
	MinWait, MaxWait time.Duration // exponential backoff bounds; default 250ms and 4s
	Attempts         int           // attempts per request, first included; default 6
	AttemptTimeout   time.Duration // per attempt; default 30s
	Log              io.Writer     // one line per retried answer; default none
}

func (r Retry) withDefaults() Retry {
	if r.MinWait <= 0 {
		r.MinWait = 250 * time.Millisecond
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 4 * time.Second
	}
	if r.MaxWait < r.MinWait {
		r.MaxWait = r.MinWait
	}
	if r.Attempts <= 0 {
		r.Attempts = 6
	}
	if r.AttemptTimeout <= 0 {
		r.AttemptTimeout = 30 * time.Second
	}
	return r
}

// NewHTTPClient returns the retrying client; pass it with scw.WithHTTPClient.
// Requests are cancelled with their context, including during the backoff.
// When retries run out the last answer is handed over as is
// (PassthroughErrorHandler), so the SDK still turns it into a typed error.
func NewHTTPClient(r Retry) *http.Client {
	r = r.withDefaults()
	inner := &http.Client{
		Timeout:   r.AttemptTimeout,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
	}
	rc := &retryablehttp.Client{
		HTTPClient:   inner,
		Logger:       nil,
		RetryWaitMin: r.MinWait,
		RetryWaitMax: r.MaxWait,
		RetryMax:     r.Attempts - 1,
		CheckRetry:   checkRetry,
		Backoff:      retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	if r.Log != nil {
		rc.RequestLogHook = func(_ retryablehttp.Logger, req *http.Request, attempt int) {
			if attempt > 0 {
				fmt.Fprintf(r.Log, "scaleway: retrying %s %s (attempt %d of %d)\n", req.Method, req.URL.Path, attempt+1, r.Attempts)
			}
		}
		rc.ResponseLogHook = func(_ retryablehttp.Logger, resp *http.Response) {
			if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
				fmt.Fprintf(r.Log, "scaleway: %s %s: %s\n", resp.Request.Method, resp.Request.URL.Path, resp.Status)
			}
		}
	}
	return &http.Client{Transport: &retryTransport{client: rc}}
}

// NewClient returns an SDK client for the profile (see LoadConfig) using the
// retrying HTTP client with default settings. Later options win, e.g.
// scw.WithHTTPClient(NewHTTPClient(Retry{...})) or scw.WithAPIURL.
func NewClient(p *scw.Profile, opts ...scw.ClientOption) (*scw.Client, error) {
	all := append([]scw.ClientOption{
		scw.WithProfile(p),
		scw.WithUserAgent("bootstrap"),
		scw.WithHTTPClient(NewHTTPClient(Retry{})),
	}, opts...)
	c, err := scw.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("scaleway client: %w", err)
	}
	return c, nil
}

type postKey struct{}

// retryTransport runs each request through the retryablehttp client, marking
// POSTs in the context so that checkRetry can tell them apart.
type retryTransport struct{ client *retryablehttp.Client }

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost {
		req = req.WithContext(context.WithValue(req.Context(), postKey{}, true))
	}
	rreq, err := retryablehttp.FromRequest(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.client.Do(rreq)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		var uerr *url.Error
		if errors.As(err, &uerr) { // http.Client wraps it again
			return nil, uerr.Err
		}
		return nil, err
	}
	return resp, nil
}

// checkRetry implements the policy documented on Retry. It never returns an
// error for an HTTP answer, so that an exhausted answer reaches the SDK.
func checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		return true, nil
	}
	if post, _ := ctx.Value(postKey{}).(bool); post {
		return false, nil
	}
	return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
}
