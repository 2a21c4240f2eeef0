package localcloud

import (
	"context"
	"time"
)

// ServerInfo is what a Machine gets to boot a server.
type ServerInfo struct {
	ID   string
	Name string
	// Address is the server's public IPv4: a loopback address of its own,
	// where its SSH must answer on port 22. Empty if it has no flexible IP.
	Address string
	// UserData is the server's "cloud-init" user data (NoCloud seed).
	UserData []byte
}

// Machines boots servers. The local cloud calls Boot when a server is
// powered on; the server stays "starting" until Boot returns and becomes
// "running" if it succeeded, "stopped" otherwise. Boot may take a while
// (~30s for a VM) and must return when ctx is done.
type Machines interface {
	Boot(ctx context.Context, server ServerInfo) (Machine, error)
}

// Machine is a booted server. Stop is called on poweroff and terminate (the
// server is "stopping" meanwhile) and when the Cloud is closed.
type Machine interface {
	Stop() error
}

// NoopMachines boots nothing: servers go through the real state machine,
// waiting BootDelay in "starting" and StopDelay in "stopping".
type NoopMachines struct {
	BootDelay time.Duration
	StopDelay time.Duration
}

// Boot implements Machines.
func (n NoopMachines) Boot(ctx context.Context, _ ServerInfo) (Machine, error) {
	if err := sleep(ctx, n.BootDelay); err != nil {
		return nil, err
	}
	return noopMachine{stopDelay: n.StopDelay}, nil
}

type noopMachine struct{ stopDelay time.Duration }

func (m noopMachine) Stop() error {
	time.Sleep(m.stopDelay) // bounded and test-configured; Stop has no ctx
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
