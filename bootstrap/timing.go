package bootstrap

import (
	"context"
	"io"
	"io/fs"
	"sync"
	"time"

	"bootstrap/remote"
)

// Timing splits one run's wall time into what the host took and what the
// tool itself took, so the tool's overhead can be measured (bench/).
type Timing struct {
	WallSeconds     float64 `json:"wall_seconds"`
	RemoteSeconds   float64 `json:"remote_seconds"`   // inside remote commands and file transfers
	RebootSeconds   float64 `json:"reboot_seconds"`   // from asking for the reboot to a new boot answering
	OverheadSeconds float64 `json:"overhead_seconds"` // the rest: the tool's own work, dials and handshakes
	Handshakes      int     `json:"handshakes"`       // SSH connections opened
}

type clock struct {
	mu         sync.Mutex
	start      time.Time
	remote     time.Duration
	reboot     time.Duration
	handshakes int
}

func (c *clock) add(d *time.Duration, since time.Time) {
	c.mu.Lock()
	*d += time.Since(since)
	c.mu.Unlock()
}

func (c *clock) handshake() {
	c.mu.Lock()
	c.handshakes++
	c.mu.Unlock()
}

func (c *clock) timing() *Timing {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := time.Since(c.start)
	return &Timing{
		WallSeconds:     wall.Seconds(),
		RemoteSeconds:   c.remote.Seconds(),
		RebootSeconds:   c.reboot.Seconds(),
		OverheadSeconds: (wall - c.remote - c.reboot).Seconds(),
		Handshakes:      c.handshakes,
	}
}

// conn is the SSH connection as steps use it, timing every remote call.
type conn struct {
	*remote.Client
	clock *clock
}

func (c *conn) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	defer c.clock.add(&c.clock.remote, time.Now())
	return c.Client.Run(ctx, cmd, stdout, stderr)
}

func (c *conn) Output(ctx context.Context, cmd string) (string, error) {
	defer c.clock.add(&c.clock.remote, time.Now())
	return c.Client.Output(ctx, cmd)
}

func (c *conn) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode) error {
	defer c.clock.add(&c.clock.remote, time.Now())
	return c.Client.WriteFile(ctx, p, data, mode)
}

func (c *conn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	defer c.clock.add(&c.clock.remote, time.Now())
	return c.Client.ReadFile(ctx, p)
}
