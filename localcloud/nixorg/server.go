// Package nixorg is the local cloud's stand-in for what a NixOS host fetches
// from the internet and what Nix builds there: nixos.org's Nix installer,
// its channels and releases, and the build of a NixOS system. Guests of the
// local cloud (package localcloud/qemu) reach it at GuestURL through a
// forward of qemu's user network; nothing else is reachable from them.
//
// The build is a real evaluation: the guest sends its configuration, which is
// parsed and evaluated here with nix-instantiate and a minimal module system
// (eval.nix), and the answer holds what the system consists of on these
// Debian guests: the files NixOS would generate in /etc, its boot loader and
// activation settings, its version. The Nix and NixOS tools on the guest
// (scripts/nix-rig, installed by scripts/install) stand in for the rest: they
// keep Nix's profiles and the store's layout, install the boot loader record
// the local cloud's firmware reads, and run the emulated first boot
// (scripts/rig-stage1: NixOS's lustration, then activation).
//
// It imports nothing from bootstrap's pipeline, providers or tests (channel,
// a leaf, names the channels it knows).
package nixorg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ulikunitz/xz"

	nixchannel "bootstrap/channel"
)

// GuestAddr is where guests reach the stand-in (qemu.Forward's guest side).
const (
	GuestAddr = "10.0.2.100:80"
	GuestURL  = "http://10.0.2.100"
)

// DefaultNixVersion is the Nix the stand-in's /nix/install installs, as
// https://nixos.org/nix/install installs the newest.
const DefaultNixVersion = "2.31.2"

var (
	//go:embed scripts/nix-rig
	nixRig string
	//go:embed scripts/rig-stage1
	rigStage1 string
	//go:embed scripts/install
	installer string
)

// configEvaluator parses and evaluates NixOS configurations (Evaluator).
type configEvaluator interface {
	Parse(ctx context.Context, dir string) error
	Eval(ctx context.Context, configFile string, selectPaths []string) (map[string]any, error)
}

// Request is one request the stand-in served, for tests.
type Request struct {
	Method, Path string
	NixVersion   string // the Nix of the guest, on builds
	Status       int
}

// Server is the stand-in. Create it with New; the zero value is not usable.
type Server struct {
	eval     configEvaluator
	unstable string // the version nixos-unstable is heading for

	mu       sync.Mutex
	channels map[string][]Release // channel -> its releases, oldest first
	log      []Request
	// BuildDelay, when set, delays every build answer: a slow builder, for
	// tests that interrupt a run during the infect.
	buildDelay time.Duration
}

// New returns a stand-in whose builds evaluate with eval. now decides the
// version nixos-unstable is heading for (the next May or November release).
func New(eval configEvaluator, now time.Time) *Server {
	return &Server{eval: eval, unstable: nextRelease(now), channels: map[string][]Release{}}
}

// nextRelease is the NixOS release after now: releases come out at the end
// of May and of November.
func nextRelease(now time.Time) string {
	y, m := now.Year()%100, now.Month()
	switch {
	case m < time.May || (m == time.May && now.Day() < 25):
		return fmt.Sprintf("%02d.05", y)
	case m < time.November || (m == time.November && now.Day() < 25):
		return fmt.Sprintf("%02d.11", y)
	default:
		return fmt.Sprintf("%02d.05", (y+1)%100)
	}
}

// SetBuildDelay delays every build answer by d (0: none).
func (s *Server) SetBuildDelay(d time.Duration) {
	s.mu.Lock()
	s.buildDelay = d
	s.mu.Unlock()
}

// Head returns the release a channel points at now (its first one is made
// on first use).
func (s *Server) Head(channel string) (Release, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head(channel)
}

func (s *Server) head(channel string) (Release, error) {
	if _, err := nixchannel.Parse(channel); err != nil {
		return Release{}, fmt.Errorf("no channel %q", channel)
	}
	if rs := s.channels[channel]; len(rs) > 0 {
		return rs[len(rs)-1], nil
	}
	return s.advance(channel), nil
}

// Advance moves a channel to a new release and returns it.
func (s *Server) Advance(channel string) (Release, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := nixchannel.Parse(channel); err != nil {
		return Release{}, fmt.Errorf("no channel %q", channel)
	}
	return s.advance(channel), nil
}

func (s *Server) advance(channel string) Release {
	n := len(s.channels[channel])
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s#%d", channel, n)))
	rev := hex.EncodeToString(sum[:20])
	version := strings.TrimSuffix(strings.TrimPrefix(channel, "nixos-"), "-small")
	r := Release{Channel: channel, Revision: rev}
	if version == "unstable" {
		r.Version = s.unstable
		r.Suffix = fmt.Sprintf("pre%d.%s", 712345+n*17, rev[:7])
	} else {
		r.Version = version
		r.Suffix = fmt.Sprintf(".%d.%s", 719+n*23, rev[:7])
	}
	s.channels[channel] = append(s.channels[channel], r)
	return r
}

// release finds a release by its directory and name.
func (s *Server) release(dir, name string) (Release, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.channels["nixos-"+dir] {
		if r.Name() == name {
			return r, true
		}
	}
	return Release{}, false
}

// Requests returns the requests served so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Handler serves the stand-in's URLs, laid out like the real hosts':
//
//	GET  /nix/install, /nix/nix-VERSION/install    the Nix installer (nixos.org, releases.nixos.org)
//	GET  /channels/CHANNEL                         302 to the release the channel points at
//	GET  /nixos/DIR/RELEASE[/nixexprs.tar.xz]      a release and its Nix expressions
//	POST /build                                    evaluate a configuration, answer the system
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /nix/install", func(w http.ResponseWriter, r *http.Request) { s.install(w, DefaultNixVersion) })
	mux.HandleFunc("GET /nix/{release}/install", func(w http.ResponseWriter, r *http.Request) {
		v, ok := strings.CutPrefix(r.PathValue("release"), "nix-")
		if !ok || !regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?$`).MatchString(v) {
			http.NotFound(w, r)
			return
		}
		s.install(w, v)
	})
	mux.HandleFunc("GET /channels/{channel}", func(w http.ResponseWriter, r *http.Request) {
		rel, err := s.Head(r.PathValue("channel"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, "/nixos/"+strings.TrimPrefix(rel.Channel, "nixos-")+"/"+rel.Name(), http.StatusFound)
	})
	mux.HandleFunc("GET /nixos/{dir}/{name}", func(w http.ResponseWriter, r *http.Request) {
		rel, ok := s.release(r.PathValue("dir"), r.PathValue("name"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "<html><body><h1>NixOS release %s</h1><p>Git commit %s</p></body></html>\n", rel.Name(), rel.Revision)
	})
	mux.HandleFunc("GET /nixos/{dir}/{name}/nixexprs.tar.xz", func(w http.ResponseWriter, r *http.Request) {
		rel, ok := s.release(r.PathValue("dir"), r.PathValue("name"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, err := nixexprs(rel)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-xz")
		w.Write(b) //nolint:errcheck // the guest sees a short body
	})
	mux.HandleFunc("POST /build", s.build)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(sw, r)
		s.mu.Lock()
		s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, NixVersion: r.Header.Get("X-Nix-Version"), Status: sw.status})
		s.mu.Unlock()
	})
}

// Script returns a stand-in tool script with the guest URL and the Nix
// version filled in (for tests of the scripts themselves).
func Script(name, nixVersion string) (string, error) {
	var s string
	switch name {
	case "nix-rig":
		s = nixRig
	case "rig-stage1":
		s = rigStage1
	case "install":
		return installScript(nixVersion), nil
	default:
		return "", fmt.Errorf("no script %q", name)
	}
	return strings.NewReplacer("@RIG_URL@", GuestURL, "@NIX_VERSION@", nixVersion).Replace(s), nil
}

func installScript(version string) string {
	rig, _ := Script("nix-rig", version)
	stage1, _ := Script("rig-stage1", version)
	return strings.NewReplacer("@NIX_RIG@", rig, "@RIG_STAGE1@", stage1, "@RIG_URL@", GuestURL, "@NIX_VERSION@", version).Replace(installer)
}

func (s *Server) install(w http.ResponseWriter, version string) {
	w.Header().Set("Content-Type", "text/x-shellscript")
	io.WriteString(w, installScript(version)) //nolint:errcheck // the guest sees a short body
}

// nixexprs is a release's nixexprs.tar.xz: a directory named after the
// release with nixpkgs' version files (the rest of nixpkgs is not needed
// here: the build is evaluated by the stand-in).
func nixexprs(rel Release) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := xz.NewWriter(&buf)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(zw)
	top := rel.Name() + "/"
	files := []struct{ name, body string }{
		{".version", rel.Version},
		{".version-suffix", rel.Suffix},
		{".git-revision", rel.Revision},
		{"svn-revision", rel.Suffix},
		{"README.md", "Nixpkgs of " + rel.Name() + " (local cloud stand-in: version files only)\n"},
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: top, Mode: 0o755}); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: top + f.name, Mode: 0o444, Size: int64(len(f.body))}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: top + "nixpkgs", Linkname: ".", Mode: 0o777}); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxConfig bounds an uploaded configuration.
const maxConfig = 16 << 20

var headerRE = map[string]*regexp.Regexp{
	"X-Nixpkgs-Version":  regexp.MustCompile(`^[0-9]{2}\.[0-9]{2}$`),
	"X-Nixpkgs-Suffix":   regexp.MustCompile(`^(\.[0-9]+|pre[0-9]+)\.[0-9a-f]{7,}$`),
	"X-Nixpkgs-Revision": regexp.MustCompile(`^[0-9a-f]{40}$`),
	"X-Config-File":      regexp.MustCompile(`^[A-Za-z0-9._-]+\.nix$`),
}

// build evaluates the uploaded configuration directory and answers the
// system as a tar.gz (files sorted, no times: the same configuration builds
// the same bytes, so the guest keeps the same store path, as Nix would).
// A configuration that does not evaluate gets 422 and Nix's message.
func (s *Server) build(w http.ResponseWriter, r *http.Request) {
	for h, re := range headerRE {
		if !re.MatchString(r.Header.Get(h)) {
			http.Error(w, fmt.Sprintf("error: bad %s %q", h, r.Header.Get(h)), http.StatusBadRequest)
			return
		}
	}
	rel := Release{Version: r.Header.Get("X-Nixpkgs-Version"), Suffix: r.Header.Get("X-Nixpkgs-Suffix"), Revision: r.Header.Get("X-Nixpkgs-Revision")}
	dir, err := os.MkdirTemp("", "nixorg-build-")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(dir)
	if err := untar(http.MaxBytesReader(w, r.Body, maxConfig), dir); err != nil {
		http.Error(w, "error: reading the configuration: "+err.Error(), http.StatusBadRequest)
		return
	}
	files, err := s.evaluate(r.Context(), dir, r.Header.Get("X-Config-File"), rel)
	var be *BuildError
	switch {
	case errors.As(err, &be):
		http.Error(w, be.Msg, http.StatusUnprocessableEntity)
		return
	case err != nil:
		http.Error(w, "error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	delay := s.buildDelay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	out, err := tarGz(files)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(out) //nolint:errcheck // the guest sees a short body
}

// evaluate parses every file of the configuration, evaluates it and renders
// the system.
func (s *Server) evaluate(ctx context.Context, dir, configFile string, rel Release) (map[string][]byte, error) {
	if err := s.eval.Parse(ctx, dir); err != nil {
		return nil, asBuildError(err)
	}
	values, err := s.eval.Eval(ctx, filepath.Join(dir, configFile), selectPaths)
	if err != nil {
		return nil, asBuildError(err)
	}
	return render(config(values), rel)
}

// asBuildError turns an evaluation failure into what the guest shows, with
// the temporary directory named as /etc/nixos.
func asBuildError(err error) error {
	var be *BuildError
	if errors.As(err, &be) {
		return err
	}
	return &BuildError{Msg: err.Error()}
}

func untar(r io.Reader, dir string) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name, ok := cleanRel(h.Name)
		if !ok {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

func tarGz(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var ds []string
	for d := range dirs {
		ds = append(ds, d)
	}
	sort.Strings(ds)
	for _, d := range ds {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "./" + d + "/", Mode: 0o755}); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		mode := int64(0o444)
		if strings.HasPrefix(n, "activation-scripts/") {
			mode = 0o555
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./" + n, Mode: mode, Size: int64(len(files[n]))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(files[n]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
