package scaleway

import (
	"context"
	"time"
)

// poller paces a polling loop: capped exponential backoff, cancelled with
// ctx.
type poller struct {
	next, max time.Duration
	start     time.Time
}

func (p *Provider) newPoller() *poller {
	lo, hi := p.PollMin, p.PollMax
	if lo <= 0 {
		lo = time.Second
	}
	if hi < lo {
		hi = lo
	}
	return &poller{next: lo, max: hi, start: time.Now()}
}

// wait sleeps before the next poll; it returns ctx.Err() if ctx ends first.
func (w *poller) wait(ctx context.Context) error {
	t := time.NewTimer(w.next)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	w.next = min(w.next*2, w.max)
	return nil
}

// elapsed is the time since polling started, rounded for messages.
func (w *poller) elapsed() time.Duration {
	return time.Since(w.start).Round(100 * time.Millisecond)
}
