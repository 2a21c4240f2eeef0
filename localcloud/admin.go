package localcloud

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Request is one API request as the local cloud saw it.
type Request struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Query  string    `json:"query,omitempty"`
	Status int       `json:"status"`          // 0 when the connection was closed without an answer
	Fault  FaultKind `json:"fault,omitempty"` // the fault that hit it, if any
}

// maxRequests bounds the request log.
const maxRequests = 10000

// Requests returns the API requests served so far (admin calls excluded).
func (c *Cloud) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// record appends every API request to the request log, once the handler
// is done, or earlier through recordNow: a request is in the log before
// its client can see any outcome of it.
func (c *Cloud) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, fault := withFaultNote(r)
		sw := &statusWriter{ResponseWriter: w}
		var once sync.Once
		add := func() {
			once.Do(func() {
				req := Request{Time: now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: sw.status, Fault: *fault}
				c.mu.Lock()
				if len(c.requests) >= maxRequests { // a long-running demo keeps the recent ones
					c.requests = slices.Delete(c.requests, 0, len(c.requests)-maxRequests/2)
				}
				c.requests = append(c.requests, req)
				c.mu.Unlock()
				suffix := ""
				if req.Fault != "" {
					suffix = " [" + string(req.Fault) + "]"
				}
				c.logf("%s %s %d%s", req.Method, req.Path, req.Status, suffix)
			})
		}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), recordKey{}, add)))
		add()
	})
}

type recordKey struct{}

// recordNow logs r at once, with what was answered so far: for a handler
// about to close the connection, whose client would otherwise act on the
// closed connection before the request is in the log.
func recordNow(r *http.Request) {
	if add, ok := r.Context().Value(recordKey{}).(func()); ok {
		add()
	}
}

// statusWriter captures the status code; Unwrap lets
// http.ResponseController reach the connection (to hijack it).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// adminRoutes serves the /_localcloud/ endpoints listed in the package doc.
func (c *Cloud) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_localcloud/resources", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Resources())
	})
	mux.HandleFunc("GET /_localcloud/requests", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Requests())
	})
	mux.HandleFunc("GET /_localcloud/faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, c.Faults())
	})
	mux.HandleFunc("POST /_localcloud/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			writeInvalidArgument(w, "body", "format", err.Error())
			return
		}
		if err := c.InjectFault(f); err != nil {
			writeInvalidArgument(w, "kind", "constraint", err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, c.Faults())
	})
	mux.HandleFunc("DELETE /_localcloud/faults", func(w http.ResponseWriter, r *http.Request) {
		c.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_localcloud/release", func(w http.ResponseWriter, r *http.Request) {
		c.ReleaseStuck()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}
