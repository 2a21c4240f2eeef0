package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"bootstrap/bootstrap"
	"bootstrap/infect"
	"bootstrap/provider"
	"bootstrap/remote"
)

func TestSplitTarget(t *testing.T) {
	tests := []struct {
		in, user, host string
		ok             bool
	}{
		{"root@203.0.113.7", "root", "203.0.113.7", true},
		{"203.0.113.7", "root", "203.0.113.7", true},
		{"admin@web-1.example.com", "admin", "web-1.example.com", true},
		{"root@[2001:db8::1]", "root", "2001:db8::1", true},
		{"root@", "", "", false},
		{"@host", "", "", false},
		{"root@203.0.113.7:2222", "", "", false},
		{"root@a b", "", "", false},
		{"root@[::1]", "root", "::1", true},
		{"[::1]", "root", "::1", true},
		{"root@2001:db8::1", "root", "2001:db8::1", true},
		{"root@[2001:db8::1]:22", "", "", false},
		{"root@[web-1]", "", "", false},
		{"root@[::1", "", "", false},
		{"root@203.0.113.300", "", "", false},
		{"root@web_1.example.com", "", "", false},
	}
	for _, tt := range tests {
		user, host, err := splitTarget(tt.in)
		if (err == nil) != tt.ok || user != tt.user || host != tt.host {
			t.Errorf("splitTarget(%q): got %q, %q, %v; want %q, %q, ok=%v", tt.in, user, host, err, tt.user, tt.host, tt.ok)
		}
	}
}

func TestNameFromHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.7", "203-0-113-7"},
		{"Web-1.Example.com", "web-1"},
		{"2001:db8::1", "2001-db8--1"},
		{"::1", "0--1"},
		{"2001:db8::", "2001-db8--0"},
	}
	for _, tt := range tests {
		if got := nameFromHost(tt.in); got != tt.want {
			t.Errorf("nameFromHost(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExplainExitCodes(t *testing.T) {
	step := func(name string, err error) error { return &bootstrap.StepError{Step: name, Host: "web-1", Err: err} }
	tests := []struct {
		name string
		err  error
		code int
		hint string
	}{
		{"usage", usagef("bad channel"), exitUsage, ""},
		{"host key changed", step("connect", &remote.HostKeyMismatchError{Host: "h", Want: "SHA256:a", Got: "SHA256:b"}), exitHostKey, "known_hosts"},
		{"unknown host key", step("connect", &remote.UnknownHostKeyError{Host: "h", Fingerprint: "SHA256:x"}), exitHostKey, "--host-key SHA256:x"},
		{"auth", step("connect", &remote.AuthError{User: "root", Host: "h", Offered: []string{"k"}}), exitAuth, "-i"},
		{"not ssh", step("connect", &remote.NotSSHError{Addr: "h:80", Banner: "HTTP/1.1 400 Bad Request"}), exitUnreachable, "--port"},
		{"cloud unreachable", &bootstrap.StepError{Step: "connect", Host: "web-1", Provider: "scaleway", Err: &remote.UnreachableError{Addr: "h:22", Err: context.DeadlineExceeded}}, exitUnreachable, "the cloud's console"},
		{"cloud login refused", &bootstrap.StepError{Step: "connect", Host: "web-1", Provider: "scaleway", Err: &remote.AuthError{User: "root", Host: "h", Offered: []string{"k"}}}, exitAuth, "cloud-init"},
		{"api", &provider.APIError{Err: errors.New("dial tcp: connection refused")}, exitAPI, "SCW_API_URL"},
		{"download", step("infect", &infect.DownloadError{URL: "u", CacheDir: "/c", SHA256: "ab", Err: errors.New("no route")}), exitInfect, "offline?"},
		{"unreachable", step("connect", &remote.UnreachableError{Addr: "h:22", Err: context.DeadlineExceeded}), exitUnreachable, "firewall"},
		{"preflight", step("preflight", &bootstrap.PreflightError{Reason: "unsupported OS", Hint: "use Debian"}), exitRefused, "nothing was changed"},
		{"checksum", step("infect", fmt.Errorf("fetch: %w", &infect.ChecksumError{URL: "u", Want: "a", Got: "b"})), exitInfect, "--infect-sha256"},
		{"infect failed", step("infect", &infect.FailedError{Code: 1, Tail: "boom"}), exitInfect, "bootstrap.log"},
		{"reboot", step("reboot", &bootstrap.RebootError{Address: "h", Err: context.DeadlineExceeded}), exitReboot, "console"},
		{"interrupted", step("infect", context.Canceled), exitInterrupted, "resume"},
		{"timeout", step("infect", context.DeadlineExceeded), exitTimeout, "--timeout"},
		{"other", errors.New("disk full"), exitError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			code := render(&b, tt.err)
			if code != tt.code {
				t.Errorf("got exit code %d, want %d", code, tt.code)
			}
			last := b.String()
			if i := strings.LastIndex(strings.TrimRight(last, "\n"), "\n"); i >= 0 {
				last = last[i+1:]
			}
			if !strings.HasPrefix(last, "error: ") || strings.Count(strings.TrimRight(last, "\n"), "\n") != 0 {
				t.Errorf("got %q, want one line starting with error:", last)
			}
			if tt.hint != "" && !strings.Contains(last, tt.hint) {
				t.Errorf("got %q, want it to mention %q", last, tt.hint)
			}
			var se *bootstrap.StepError
			if errors.As(tt.err, &se) && se.Provider == "scaleway" && (strings.Contains(last, "--port") || strings.Contains(last, "--name")) {
				t.Errorf("got %q, want no hint of a flag scaleway lacks", last)
			}
		})
	}
}
