package localcloud

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// FaultKind says what a Fault does to the requests it matches.
type FaultKind string

const (
	// FaultStatus answers Status without reaching the API. A 429 has an
	// empty body and no Retry-After, like the real rate limiter's. A 409 is
	// the API's transient_state error and a 412 its
	// precondition_failed/resource_still_in_use, with the real bodies (see
	// errors.go), so that the SDK types them as it would against
	// api.scaleway.com; other codes get {"message": ...}.
	FaultStatus FaultKind = "status"
	// FaultDelay waits Delay before serving the request normally.
	FaultDelay FaultKind = "delay"
	// FaultLostResponse serves the request (a create really happens) and
	// then loses the answer: the connection is closed without a response,
	// or a 504 is sent if Respond504. With CommitDelay the answer is lost
	// first and the request carried out that much later, as a gateway
	// timeout in front of a slow service does: the resource appears after
	// the client saw the error.
	FaultLostResponse FaultKind = "lost_response"
	// FaultStuckStarting leaves a server powered on by a matching request
	// in "starting" until ReleaseStuck, ClearFaults or Close.
	FaultStuckStarting FaultKind = "stuck_starting"
)

// Fault is a rule applied to matching requests.
type Fault struct {
	Kind FaultKind `json:"kind"`
	// Method ("GET", "POST"...) and Path (a path.Match pattern such as
	// "/instance/v1/zones/*/servers/*") select the requests; empty matches
	// all.
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	// Count is how many matching requests are affected: 0 means 1, a
	// negative count means every one. Skip lets that many through first.
	Count int `json:"count,omitempty"`
	Skip  int `json:"skip,omitempty"`

	Status     int           `json:"status,omitempty"`      // FaultStatus
	Delay      time.Duration `json:"delay,omitempty"`       // FaultDelay; JSON also accepts "2s"
	Respond504 bool          `json:"respond_504,omitempty"` // FaultLostResponse
	// CommitDelay (FaultLostResponse): carry the request out this long after
	// the answer was lost. JSON also accepts "2s".
	CommitDelay time.Duration `json:"commit_delay,omitempty"`
	// ListLag (any kind): what the matching request creates stays out of
	// list answers this long (a GET by id finds it at once), as the real
	// API's lists lag behind its creates. JSON also accepts "2s".
	ListLag time.Duration `json:"list_lag,omitempty"`
}

// UnmarshalJSON accepts the durations (delay, commit_delay, list_lag) as Go
// duration strings or nanoseconds.
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var aux struct {
		plain
		Delay       json.RawMessage `json:"delay,omitempty"`
		CommitDelay json.RawMessage `json:"commit_delay,omitempty"`
		ListLag     json.RawMessage `json:"list_lag,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*f = Fault(aux.plain)
	for _, d := range []struct {
		name string
		raw  json.RawMessage
		to   *time.Duration
	}{{"delay", aux.Delay, &f.Delay}, {"commit_delay", aux.CommitDelay, &f.CommitDelay}, {"list_lag", aux.ListLag, &f.ListLag}} {
		if err := parseDuration(d.raw, d.to); err != nil {
			return fmt.Errorf("fault %s: %w", d.name, err)
		}
	}
	return nil
}

// parseDuration reads a JSON duration: a Go duration string or nanoseconds.
func parseDuration(raw json.RawMessage, to *time.Duration) error {
	if len(raw) == 0 {
		return nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*to = d
		return nil
	}
	return json.Unmarshal(raw, to)
}

func (f *Fault) validate() error {
	switch f.Kind {
	case FaultStatus:
		if f.Status < 400 || f.Status > 599 {
			return fmt.Errorf("status fault: status %d is not an HTTP error", f.Status)
		}
	case FaultDelay:
		if f.Delay <= 0 {
			return fmt.Errorf("delay fault: delay %v must be positive", f.Delay)
		}
	case FaultLostResponse, FaultStuckStarting:
	default:
		return fmt.Errorf("unknown fault kind %q", f.Kind)
	}
	if f.CommitDelay < 0 || f.ListLag < 0 {
		return fmt.Errorf("fault durations must not be negative")
	}
	if f.CommitDelay > 0 && f.Kind != FaultLostResponse {
		return fmt.Errorf("commit_delay applies to lost_response faults only")
	}
	if _, err := path.Match(f.Path, "/"); err != nil {
		return fmt.Errorf("fault path %q: %w", f.Path, err)
	}
	return nil
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && f.Method != r.Method {
		return false
	}
	if f.Path == "" {
		return true
	}
	ok, _ := path.Match(f.Path, r.URL.Path)
	return ok
}

// faultSet holds the active faults; guarded by Cloud.mu.
type faultSet struct {
	rules   []*Fault
	release chan struct{} // closed to release stuck boots
}

// take consumes one use of the first active fault of one of kinds matching
// r.
func (fs *faultSet) take(r *http.Request, kinds ...FaultKind) *Fault {
	for _, f := range fs.rules {
		if slices.Contains(kinds, f.Kind) && f.matches(r) && fs.use(f) {
			taken := *f
			fs.prune()
			return &taken
		}
	}
	return nil
}

// takeEach consumes one use of every active fault of kind matching r.
func (fs *faultSet) takeEach(r *http.Request, kind FaultKind) []Fault {
	var out []Fault
	for _, f := range fs.rules {
		if f.Kind == kind && f.matches(r) && fs.use(f) {
			out = append(out, *f)
		}
	}
	fs.prune()
	return out
}

// use consumes one use of f: false while f is still skipping requests.
func (fs *faultSet) use(f *Fault) bool {
	if f.Skip > 0 {
		f.Skip--
		return false
	}
	if f.Count > 0 {
		f.Count--
	}
	return true
}

// prune drops the faults that are used up (Count reached 0).
func (fs *faultSet) prune() {
	fs.rules = slices.DeleteFunc(fs.rules, func(f *Fault) bool { return f.Count == 0 })
}

func (fs *faultSet) takeStuck(r *http.Request) bool {
	return fs.take(r, FaultStuckStarting) != nil
}

func (fs *faultSet) releaseStuck() {
	close(fs.release)
	fs.release = make(chan struct{})
}

// InjectFault adds a fault; it applies to requests that arrive afterwards.
func (c *Cloud) InjectFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.Count == 0 {
		f.Count = 1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults.rules = append(c.faults.rules, &f)
	c.logf("fault injected: %+v", f)
	return nil
}

// ClearFaults removes every fault and releases stuck boots.
func (c *Cloud) ClearFaults() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults.rules = nil
	c.faults.releaseStuck()
}

// ReleaseStuck lets the servers held in "starting" by FaultStuckStarting
// boot.
func (c *Cloud) ReleaseStuck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults.releaseStuck()
}

// Faults lists the active faults with their remaining counts.
func (c *Cloud) Faults() []Fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Fault, 0, len(c.faults.rules))
	for _, f := range c.faults.rules {
		out = append(out, *f)
	}
	return out
}

// injectFaults applies delay, status and lost-response faults, and the
// list lag of any fault matching the request.
func (c *Cloud) injectFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		var delay, lag time.Duration
		for _, d := range c.faults.takeEach(r, FaultDelay) {
			delay += d.Delay
			lag = max(lag, d.ListLag)
		}
		f := c.faults.take(r, FaultStatus, FaultLostResponse)
		c.mu.Unlock()
		if f != nil {
			lag = max(lag, f.ListLag)
		}
		if lag > 0 {
			r = r.WithContext(context.WithValue(r.Context(), listLagKey{}, lag))
		}

		if delay > 0 {
			noteFault(r, FaultDelay)
			if sleep(r.Context(), delay) != nil {
				return
			}
		}
		if f == nil {
			next.ServeHTTP(w, r)
			return
		}
		noteFault(r, f.Kind)
		switch f.Kind {
		case FaultStatus:
			switch f.Status {
			case http.StatusTooManyRequests:
				w.WriteHeader(f.Status) // no body, no Retry-After
			case http.StatusConflict:
				writeTransientState(w, resourceOf(r.URL.Path), lastSegment(r.URL.Path), "")
			case http.StatusPreconditionFailed:
				writeStillInUse(w, "resource "+lastSegment(r.URL.Path)+" is still in use")
			default:
				writeJSON(w, f.Status, map[string]string{"message": http.StatusText(f.Status)})
			}
		case FaultLostResponse:
			if f.CommitDelay > 0 {
				c.commitLate(next, r, f.CommitDelay)
			} else {
				next.ServeHTTP(&discardWriter{header: http.Header{}}, r)
			}
			if f.Respond504 {
				writeJSON(w, http.StatusGatewayTimeout, map[string]string{"message": "upstream request timeout"})
				return
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				writeJSON(w, http.StatusGatewayTimeout, map[string]string{"message": "upstream request timeout"})
				return
			}
			recordNow(r) // status 0: no answer
			conn.Close()
		}
	})
}

// commitLate carries r out after delay, in the background, its answer
// discarded; Close waits for it (or cancels it if it has not started).
func (c *Cloud) commitLate(next http.Handler, r *http.Request, delay time.Duration) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	late := r.Clone(context.WithoutCancel(r.Context()))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if sleep(c.ctx, delay) != nil {
			return
		}
		late.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(&discardWriter{header: http.Header{}}, late)
		c.logf("%s %s carried out %v after its answer was lost", late.Method, late.URL.Path, delay)
	}()
}

type listLagKey struct{}

// listedFrom is when a resource created by r shows up in lists: now, or
// later by the cloud's ListLag or a fault's.
func (c *Cloud) listedFrom(r *http.Request, created time.Time) time.Time {
	lag := c.opts.ListLag
	if l, ok := r.Context().Value(listLagKey{}).(time.Duration); ok {
		lag = max(lag, l)
	}
	return created.Add(lag)
}

// resourceOf names the resource of an API path the way the API's errors
// do: instance_server, instance_ip, volume...
func resourceOf(p string) string {
	switch {
	case strings.Contains(p, "/servers"):
		return "instance_server"
	case strings.Contains(p, "/ips"):
		return "instance_ip"
	case strings.Contains(p, "/volumes"):
		return "volume"
	}
	return "unknown"
}

func lastSegment(p string) string { return path.Base(p) }

// discardWriter swallows the answer of a request whose response is lost.
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

type faultNoteKey struct{}

// noteFault tells the request recorder which fault hit the request.
func noteFault(r *http.Request, k FaultKind) {
	if p, ok := r.Context().Value(faultNoteKey{}).(*FaultKind); ok {
		*p = k
	}
}

func withFaultNote(r *http.Request) (*http.Request, *FaultKind) {
	var k FaultKind
	return r.WithContext(context.WithValue(r.Context(), faultNoteKey{}, &k)), &k
}
