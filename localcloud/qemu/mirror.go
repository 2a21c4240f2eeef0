package qemu

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// hostMirror returns the Debian mirror the host's apt is configured with, so the image build
// fetches from wherever this machine is allowed to fetch ($BOOTSTRAP_E2E_MIRROR overrides).
// apt reads sources.list first, then sources.list.d in lexical order; the first Debian archive
// entry (not the security archive) wins.
func hostMirror() (string, error) {
	if m := os.Getenv("BOOTSTRAP_E2E_MIRROR"); m != "" {
		return m, nil
	}
	files := []string{"/etc/apt/sources.list"}
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*")
	sort.Strings(more)
	files = append(files, more...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var m string
		switch {
		case strings.HasSuffix(f, ".sources"):
			m = mirrorFromDeb822(string(b))
		case strings.HasSuffix(f, ".list"):
			m = mirrorFromList(string(b))
		}
		if m != "" {
			return m, nil
		}
	}
	return "", errors.New("no Debian mirror found in /etc/apt/sources.list{,.d} (set BOOTSTRAP_E2E_MIRROR)")
}

// mirrorFromList picks the first Debian archive from one-line-style sources.list text.
func mirrorFromList(text string) string {
	for _, line := range strings.Split(text, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") { // options: [arch=amd64 signed-by=...]
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) < 3 {
				continue
			}
			f = f[1:]
		}
		if isDebianArchive(f[0], f[1:2]) {
			return f[0]
		}
	}
	return ""
}

// mirrorFromDeb822 picks the first Debian archive from deb822-style .sources text.
func mirrorFromDeb822(text string) string {
	for _, stanza := range strings.Split(strings.ReplaceAll(text, "\r", ""), "\n\n") {
		fields := map[string][]string{}
		for _, line := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			fields[strings.ToLower(strings.TrimSpace(k))] = strings.Fields(v)
		}
		if len(fields["enabled"]) > 0 && strings.EqualFold(fields["enabled"][0], "no") {
			continue
		}
		if !contains(fields["types"], "deb") {
			continue
		}
		for _, uri := range fields["uris"] {
			if isDebianArchive(uri, fields["suites"]) {
				return uri
			}
		}
	}
	return ""
}

// isDebianArchive: an http(s)/file URI that looks like Debian's main archive, not the security one.
func isDebianArchive(uri string, suites []string) bool {
	if !strings.HasPrefix(uri, "http://") && !strings.HasPrefix(uri, "https://") && !strings.HasPrefix(uri, "file:") {
		return false
	}
	if strings.Contains(uri, "security") {
		return false
	}
	for _, s := range suites {
		if strings.HasSuffix(s, "-security") {
			return false
		}
	}
	if strings.Contains(uri, "debian") {
		return true
	}
	for _, s := range suites {
		base, _, _ := strings.Cut(s, "-")
		if contains([]string{"bullseye", "bookworm", "trixie", "forky", "sid", "stable", "testing", "unstable"}, base) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// proxyEnv passes apt's HTTP proxy, if any, to debootstrap (which downloads with wget).
func proxyEnv() []string {
	if os.Getenv("http_proxy") != "" {
		return nil
	}
	out, err := exec.Command("apt-config", "dump", "--format", "%v%n", "Acquire::http::Proxy").Output()
	if err != nil {
		return nil
	}
	// The first line is the key itself; per-host sub-keys (Proxy::host) follow.
	p, _, _ := strings.Cut(string(out), "\n")
	p = strings.TrimSpace(p)
	if p == "" || strings.EqualFold(p, "DIRECT") || strings.EqualFold(p, "false") {
		return nil
	}
	return []string{fmt.Sprintf("http_proxy=%s", p)}
}
