package infect

import (
	"context"
	"errors"
	"testing"
	"time"
)

type fakeConn struct {
	id     string
	err    error
	closed *int
}

func (c fakeConn) Output(context.Context, string) (string, error) { return c.id + "\n", c.err }
func (c fakeConn) Close() error                                   { *c.closed++; return nil }

func TestWaitReboot(t *testing.T) {
	errAuth := errors.New("auth refused")
	tests := []struct {
		name     string
		answers  []fakeConn // one per dial; dial errors when exhausted
		dialErr  error
		wantID   string
		wantErr  error
		timeout  time.Duration
		minDials int
	}{
		{name: "new boot at once", answers: []fakeConn{{id: "new"}}, wantID: "new", minDials: 1},
		{name: "old boot then new", answers: []fakeConn{{id: "old"}, {id: "new"}}, wantID: "new", minDials: 2},
		{name: "dropped mid-read then new", answers: []fakeConn{{err: errors.New("EOF")}, {id: "new"}}, wantID: "new", minDials: 2},
		{name: "dial error is final", dialErr: errAuth, wantErr: errAuth, minDials: 1},
		{name: "never reboots", answers: []fakeConn{{id: "old"}, {id: "old"}, {id: "old"}, {id: "old"}}, timeout: 1500 * time.Millisecond, wantErr: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			closed, dials := 0, 0
			dial := func(ctx context.Context) (fakeConn, error) {
				if dials >= len(tt.answers) {
					if tt.dialErr != nil {
						dials++
						return fakeConn{}, tt.dialErr
					}
					<-ctx.Done()
					return fakeConn{}, ctx.Err()
				}
				c := tt.answers[dials]
				c.closed = &closed
				dials++
				return c, nil
			}
			_, id, err := WaitReboot(ctx, dial, "old")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if id != tt.wantID {
				t.Errorf("got boot id %q, want %q", id, tt.wantID)
			}
			if dials < tt.minDials {
				t.Errorf("got %d dials, want at least %d", dials, tt.minDials)
			}
			if closed != dials-1 {
				t.Errorf("got %d connections closed, want %d (all but the returned one)", closed, dials-1)
			}
		})
	}
}
