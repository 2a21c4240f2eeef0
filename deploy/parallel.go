package deploy

import (
	"context"
	"sync"
)

// Outcome is one host's push.
type Outcome struct {
	Result *Result
	Err    error
}

// PushAll pushes to every target, at most parallel (minimum 1) at a time,
// and returns the outcomes in the targets' order. Once ctx is done no
// further push starts; those report ctx's error.
func PushAll(ctx context.Context, targets []Target, o Options, parallel int) []Outcome {
	parallel = max(parallel, 1)
	out := make([]Outcome, len(targets))
	slots := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				out[i] = Outcome{Result: &Result{Host: t.Name}, Err: ctx.Err()}
				return
			}
			defer func() { <-slots }()
			if err := ctx.Err(); err != nil {
				out[i] = Outcome{Result: &Result{Host: t.Name}, Err: err}
				return
			}
			res, err := Push(ctx, t, o)
			out[i] = Outcome{Result: res, Err: err}
		}()
	}
	wg.Wait()
	return out
}
