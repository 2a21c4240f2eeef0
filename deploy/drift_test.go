package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"bootstrap/bootstrap"
)

func TestCompare(t *testing.T) {
	recorded := func() *bootstrap.Nixpkgs {
		return &bootstrap.Nixpkgs{Revision: revOld, Release: "nixos-24.11.40.abc1234", Generation: 1,
			Subscription: "https://nixos.org/channels/nixos-24.11", ChannelRevision: revOld, ChannelRelease: "nixos-24.11.40.abc1234"}
	}
	same := func(h *fakeHost) {}
	tests := []struct {
		name    string
		change  func(h *fakeHost)
		local   map[string]string
		nixpkgs *bootstrap.Nixpkgs
		files   string // "file state; ..."
		differs string // "what: workspace -> host; ..."
	}{
		{"no drift", same, hostEtc, recorded(), "", ""},
		{"a file changed by hand, one added, one gone", func(h *fakeHost) {
			h.etc["host.nix"] = []byte("{ services.nginx.enable = true; }\n")
			h.etc["extra.nix"] = []byte("{ }\n")
			delete(h.etc, "old.nix")
		}, hostEtc, recorded(), "extra.nix only on the host; host.nix differs; old.nix only in the workspace", ""},
		{"channel updated by hand", func(h *fakeHost) { h.channelRev = revNew }, hostEtc, recorded(), "",
			"channel revision: nixos-24.11.40.abc1234 (" + revOld + ") -> nixos-24.11.40.fed9876 (" + revNew + ")"},
		{"upgraded and switched by hand", func(h *fakeHost) {
			h.gens, h.current, h.revs[2], h.channelRev = []int{1, 2}, 2, revNew, revNew
			h.subscription = "https://nixos.org/channels/nixos-24.11-small"
		}, hostEtc, recorded(), "",
			"revision: nixos-24.11.40.abc1234 (" + revOld + ") -> nixos-24.11.40.fed9876 (" + revNew + "); " +
				"channel: https://nixos.org/channels/nixos-24.11 -> https://nixos.org/channels/nixos-24.11-small; " +
				"channel revision: nixos-24.11.40.abc1234 (" + revOld + ") -> nixos-24.11.40.fed9876 (" + revNew + "); generation: 1 -> 2"},
		{"recorded before revisions were", same, hostEtc, nil, "", "revision: not recorded (a push records it) -> nixos-24.11.40.abc1234 (nixpkgs abc1234def56)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, hostEtc)
			tt.change(h)
			local := map[string][]byte{}
			for k, v := range tt.local {
				local[k] = []byte(v)
			}
			rec := &bootstrap.Record{Name: "web-1", Channel: "nixos-24.11", Nixpkgs: tt.nixpkgs}
			d := Drift{Host: "web-1"}
			compare(context.Background(), &fakeConn{h: h}, rec, local, &d)
			var files, differs []string
			for _, f := range d.Files {
				files = append(files, f.File+" "+f.State)
			}
			for _, x := range d.Differences {
				differs = append(differs, x.What+": "+x.Workspace+" -> "+x.Host)
			}
			if got := strings.Join(files, "; "); got != tt.files {
				t.Errorf("got files %q, want %q", got, tt.files)
			}
			if got := strings.Join(differs, "; "); got != tt.differs {
				t.Errorf("got differences\n%q\nwant\n%q", got, tt.differs)
			}
			if d.Error != "" || d.Nixpkgs == nil {
				t.Errorf("got error %q, nixpkgs %v; want the host read", d.Error, d.Nixpkgs)
			}
			if got, want := d.Drifted(), tt.files != "" || tt.differs != ""; got != want {
				t.Errorf("got drifted %v, want %v", got, want)
			}
			if tt.files != "" && !strings.Contains(d.Diff, "--- web-1:/etc/nixos/host.nix\n+++ hosts/web-1/host.nix") {
				t.Errorf("got diff %q, want host.nix from the host to the workspace", d.Diff)
			}
			for _, c := range h.cmds {
				if !strings.HasPrefix(c, "find /etc/nixos") && !strings.HasPrefix(c, "exec 2>/dev/null") {
					t.Errorf("a check ran %q, which is not a read", c)
				}
			}
			if len(h.writes) != 0 {
				t.Errorf("a check wrote %q", h.writes)
			}
		})
	}
}

// Hosts that are not bootstrapped are refused before anything is contacted;
// an unreachable one is drift that could not be checked.
func TestCheck(t *testing.T) {
	ws := newHostsWorkspace(t)
	var notReady *bootstrap.NotReadyError
	if _, err := Check(context.Background(), ws, CheckRequest{Names: []string{"web-2"}}); !errors.As(err, &notReady) {
		t.Errorf("web-2: got %v, want a NotReadyError", err)
	}
	// web-3 has no configuration.nix: reported without dialing it.
	drifts, err := Check(context.Background(), ws, CheckRequest{Names: []string{"web-3"}})
	var de *DriftError
	if !errors.As(err, &de) || len(drifts) != 1 || !strings.Contains(drifts[0].Error, "no configuration.nix") || de.Total != 1 || de.Drifted[0] != "web-3" {
		t.Errorf("web-3: got %+v, %v; want drift that could not be checked", drifts, err)
	}
}
