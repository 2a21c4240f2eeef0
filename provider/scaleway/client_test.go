package scaleway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/scaleway/scaleway-sdk-go/scw"
)

func TestCheckRetry(t *testing.T) {
	post := context.WithValue(context.Background(), postKey{}, true)
	other := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	status := func(code int) *http.Response { return &http.Response{StatusCode: code, Status: http.StatusText(code)} }
	connErr := errors.New("connection reset by peer")
	tests := []struct {
		name string
		ctx  context.Context
		resp *http.Response
		err  error
		want bool
	}{
		{"POST 429: refused at the gateway, safe", post, status(429), nil, true},
		{"POST 503: may have been carried out", post, status(503), nil, false},
		{"POST 504: may have been carried out", post, status(504), nil, false},
		{"POST connection error: may have been carried out", post, nil, connErr, false},
		{"POST 400", post, status(400), nil, false},
		{"GET 429", other, status(429), nil, true},
		{"GET 500", other, status(500), nil, true},
		{"GET 501", other, status(501), nil, false},
		{"GET connection error", other, nil, connErr, true},
		{"GET 404", other, status(404), nil, false},
		{"GET 200", other, status(200), nil, false},
		{"cancelled", cancelled, status(503), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := checkRetry(tt.ctx, tt.resp, tt.err)
			if got != tt.want {
				t.Errorf("retry: got %v, want %v", got, tt.want)
			}
			if (err != nil) != (tt.ctx == cancelled) {
				t.Errorf("error: got %v, want one only when the context is done", err)
			}
		})
	}
}

func TestRejected(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New("EOF"), false},
		{context.DeadlineExceeded, false},
		{&scw.ResponseError{StatusCode: 400}, true},
		{&scw.ResponseError{StatusCode: 429}, false},
		{&scw.ResponseError{StatusCode: 503}, false},
		{&scw.InvalidArgumentsError{}, true},
		{&scw.ResourceNotFoundError{}, true},
		{&scw.QuotasExceededError{}, true},
		{fmt.Errorf("create server: %w", &scw.PreconditionFailedError{}), true},
	}
	for _, tt := range tests {
		if got := rejected(tt.err); got != tt.want {
			t.Errorf("rejected(%v): got %v, want %v", tt.err, got, tt.want)
		}
	}
}
