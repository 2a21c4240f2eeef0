package infect

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// BootIDCommand prints the kernel's boot id, which changes on every boot.
const BootIDCommand = "cat /proc/sys/kernel/random/boot_id"

// Conn is what WaitReboot needs of a fresh connection.
type Conn interface {
	Output(ctx context.Context, cmd string) (string, error)
	Close() error
}

// WaitReboot dials until the host answers with a boot id other than
// oldBootID, and returns that connection and the new id. dial is expected to
// retry unreachable hosts itself until ctx ends and to fail at once on what
// retrying cannot fix (a changed host key, refused authentication); those
// errors are returned as they are. A host still up on the old boot (the
// reboot not begun yet) is polled at most once a second.
func WaitReboot[C Conn](ctx context.Context, dial func(context.Context) (C, error), oldBootID string) (C, string, error) {
	var zero C
	var last error
	for {
		c, err := dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return zero, "", waitErr(ctx, last, err)
			}
			return zero, "", err
		}
		out, err := c.Output(ctx, BootIDCommand)
		id := strings.TrimSpace(out)
		switch {
		case err != nil:
			// The old system dropped us mid-shutdown; dial again.
			last = fmt.Errorf("read boot id: %w", err)
		case id == "":
			last = fmt.Errorf("read boot id: empty answer")
		case id != oldBootID:
			return c, id, nil
		default:
			last = fmt.Errorf("still on boot id %s: the reboot has not happened", id)
		}
		c.Close()
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return zero, "", waitErr(ctx, last, ctx.Err())
		case <-t.C:
		}
	}
}

func waitErr(ctx context.Context, last, err error) error {
	if last != nil {
		return fmt.Errorf("%w (last: %v)", err, last)
	}
	return err
}
