package localcloud

import (
	"io"
	"net/http"
	"slices"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
)

// maxUserData bounds one user data value (the real limit is 1 MB).
const maxUserData = 1 << 20

func (c *Cloud) listUserData(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.pathServerLocked(w, r, zone)
	if s == nil {
		return
	}
	keys := []string{}
	for k := range s.userData {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	writeJSON(w, http.StatusOK, instance.ListServerUserDataResponse{UserData: keys})
}

// getUserData answers the raw value as text/plain, as the real API does.
func (c *Cloud) getUserData(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.pathServerLocked(w, r, zone)
	if s == nil {
		return
	}
	v, ok := s.userData[r.PathValue("key")]
	if !ok {
		writeUserDataNotFound(w)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(v)
}

// setUserData stores the raw text/plain body under the key.
func (c *Cloud) setUserData(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxUserData+1))
	if err != nil {
		writeInvalidArgument(w, "content", "unknown", "cannot read body: "+err.Error())
		return
	}
	if len(body) > maxUserData {
		writeInvalidArgument(w, "content", "constraint", "user data is limited to 1 MB")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.pathServerLocked(w, r, zone)
	if s == nil {
		return
	}
	s.userData[r.PathValue("key")] = body
	s.modified = now()
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusNoContent)
}

func (c *Cloud) deleteUserData(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.pathServerLocked(w, r, zone)
	if s == nil {
		return
	}
	if _, ok := s.userData[r.PathValue("key")]; !ok {
		writeUserDataNotFound(w)
		return
	}
	delete(s.userData, r.PathValue("key"))
	s.modified = now()
	c.logf("server %s (%s): user data %s deleted", s.name, s.id, r.PathValue("key"))
	writeNoContent(w)
}

// writeUserDataNotFound answers a missing user data key as the real API
// does: 404 with an empty text/plain body (scaleway-cli's
// internal/namespaces/instance/v1/testdata/test-user-data-get-get-an-nonexistent-key.cassette.yaml),
// which the SDK returns as a bare *scw.ResponseError. DELETE of a missing
// key is answered the same way (not recorded in a cassette: the unkind
// guess; DELETE of a present key is 204, as terraform-provider-scaleway's
// internal/services/instance/testdata/user-data-basic.cassette.yaml shows).
func writeUserDataNotFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNotFound)
}
