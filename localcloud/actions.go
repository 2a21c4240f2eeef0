package localcloud

import (
	"net/http"
	"slices"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
)

// serverAction runs the state machine of the real API:
//
//	stopped  --poweron-->   starting --(Machines.Boot returns)--> running
//	running  --poweroff-->  stopping --(Machine.Stop returns)-->  stopped
//	running  --terminate--> stopping --(Machine.Stop returns)-->  deleted
//	running  --reboot-->    starting --(Stop, then Boot)-->       running
//
// An action missing from the server's allowed_actions is refused with 400.
func (c *Cloud) serverAction(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	var req instance.ServerActionRequest
	if !decodeBody(w, r, &req) {
		return
	}
	action := instance.ServerAction(req.Action.String()) // "" means poweron

	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.pathServerLocked(w, r, zone)
	if s == nil {
		return
	}
	switch action {
	case instance.ServerActionPoweron, instance.ServerActionPoweroff,
		instance.ServerActionTerminate, instance.ServerActionReboot:
	default:
		writeInvalidRequest(w, "localcloud does not implement action %s", action)
		return
	}
	if !slices.Contains(s.allowedActions(), action) {
		want := "running"
		if action == instance.ServerActionPoweron {
			want = "stopped"
		}
		writeInvalidRequest(w, "server should be %s", want)
		return
	}

	started := now()
	task := &instance.Task{
		ID:          newID(),
		Description: "server_" + string(action),
		StartedAt:   &started,
		Status:      instance.TaskStatusPending,
		HrefFrom:    "/servers/" + s.id + "/action",
		HrefResult:  "/servers/" + s.id,
		Zone:        zone,
	}
	switch action {
	case instance.ServerActionPoweron:
		stuck := c.faults.takeStuck(r)
		c.bootLocked(s, stuck, "allocating node")
	case instance.ServerActionPoweroff:
		c.stopLocked(s, "stopping", func() {
			s.state, s.stateDetail = instance.ServerStateStopped, ""
		})
	case instance.ServerActionTerminate:
		c.stopLocked(s, "terminating", func() { c.removeServerLocked(s) })
	case instance.ServerActionReboot:
		c.stopLocked(s, "rebooting", func() { c.bootLocked(s, false, "rebooting") })
	}
	c.logf("server %s (%s): %s -> %s", s.name, s.id, action, s.state)
	writeJSON(w, http.StatusAccepted, instance.ServerActionResponse{Task: task})
}

// bootLocked moves s to "starting" and boots its machine in the background.
// A stuck boot waits for ReleaseStuck (or Close) before calling Boot.
func (c *Cloud) bootLocked(s *server, stuck bool, detail string) {
	s.state, s.stateDetail, s.modified = instance.ServerStateStarting, detail, now()
	info := ServerInfo{
		ID:       s.id,
		Name:     s.name,
		Address:  c.addressLocked(s),
		UserData: slices.Clone(s.userData["cloud-init"]),
	}
	release := c.faults.release
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if stuck {
			select {
			case <-release:
			case <-c.ctx.Done():
			}
		}
		var m Machine
		err := c.ctx.Err()
		if err == nil {
			m, err = c.opts.Machines.Boot(c.ctx, info)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.servers[s.id] != s || s.state != instance.ServerStateStarting {
			if m != nil { // the server went away meanwhile (Close)
				_ = m.Stop()
			}
			return
		}
		s.modified = now()
		if err != nil {
			s.state, s.stateDetail = instance.ServerStateStopped, "boot failed: "+err.Error()
			c.logf("server %s (%s): boot failed: %v", s.name, s.id, err)
			return
		}
		s.machine = m
		s.state, s.stateDetail = instance.ServerStateRunning, "booting kernel"
		c.logf("server %s (%s): running at %s", s.name, s.id, info.Address)
	}()
}

// stopLocked moves s to "stopping", stops its machine in the background,
// then runs done with the lock held.
func (c *Cloud) stopLocked(s *server, detail string, done func()) {
	s.state, s.stateDetail, s.modified = instance.ServerStateStopping, detail, now()
	m := s.machine
	s.machine = nil
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if m != nil {
			if err := m.Stop(); err != nil {
				c.logf("server %s (%s): stop machine: %v", s.name, s.id, err)
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.servers[s.id] != s {
			return
		}
		s.modified = now()
		done()
	}()
}
