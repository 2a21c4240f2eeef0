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
		writeNotFound(w, "instance_user_data", r.PathValue("key"))
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
	delete(s.userData, r.PathValue("key"))
	writeNoContent(w)
}
