package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// testServer is an in-process SSH server on loopback. It accepts public keys
// from a set, counts auth attempts and, like OpenSSH's sshd with
// MaxAuthTries 6, drops the connection at the 6th rejected key (x/crypto's
// own limit does not count rejected key queries, sshd does). "exec" runs the
// command with `sh -c` locally; the "sftp" subsystem serves the real file
// system, so tests use paths inside t.TempDir().
type testServer struct {
	t    *testing.T
	ln   net.Listener
	addr *net.TCPAddr

	mu         sync.Mutex
	hostKey    ssh.Signer
	authorized map[string]bool
	env        []string
	conns      []net.Conn
	accepted   int // TCP connections accepted
	offered    int // public keys offered (queries + signatures, once per key per connection)
	rejected   int // public keys rejected
	tooMany    bool
	dupOffers  bool         // a key was offered twice on one connection
	order      []string     // fingerprints in the order keys were offered
	procs      map[int]bool // process groups of running commands
}

const sshdMaxAuthTries = 6

func newTestServer(t *testing.T, authorized ...ssh.PublicKey) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startTestServer(t, ln, authorized...)
}

func startTestServer(t *testing.T, ln net.Listener, authorized ...ssh.PublicKey) *testServer {
	t.Helper()
	s := &testServer{
		t:          t,
		ln:         ln,
		addr:       ln.Addr().(*net.TCPAddr),
		hostKey:    newSigner(t),
		authorized: map[string]bool{},
		procs:      map[int]bool{},
	}
	for _, k := range authorized {
		s.authorized[string(k.Marshal())] = true
	}
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and kills the commands still running.
func (s *testServer) Close() {
	s.ln.Close()
	s.dropConns()
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid := range s.procs {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

func (s *testServer) port() int { return s.addr.Port }

func (s *testServer) setHostKey(k ssh.Signer) {
	s.mu.Lock()
	s.hostKey = k
	s.mu.Unlock()
}

func (s *testServer) currentHostKey() ssh.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hostKey.PublicKey()
}

func (s *testServer) setEnv(env ...string) {
	s.mu.Lock()
	s.env = env
	s.mu.Unlock()
}

// dropConns closes every accepted TCP connection, like a host vanishing.
func (s *testServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

type serverStats struct {
	accepted, offered, rejected int
	tooMany, dupOffers          bool
	order                       []string
}

func (s *testServer) stats() serverStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return serverStats{s.accepted, s.offered, s.rejected, s.tooMany, s.dupOffers, append([]string(nil), s.order...)}
}

func (s *testServer) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.accepted++
		s.conns = append(s.conns, conn)
		s.mu.Unlock()
		go s.handle(conn)
	}
}

func (s *testServer) handle(conn net.Conn) {
	defer conn.Close()
	failures := 0
	seen := map[string]bool{}
	cfg := &ssh.ServerConfig{
		MaxAuthTries: -1, // enforced below, sshd style
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			k := string(key.Marshal())
			// x/crypto caches callback results per connection, so a
			// second call for the same key means it was offered again.
			if seen[k] {
				s.dupOffers = true
			}
			seen[k] = true
			s.offered++
			s.order = append(s.order, Fingerprint(key))
			if s.authorized[k] {
				return nil, nil
			}
			s.rejected++
			failures++
			if failures >= sshdMaxAuthTries {
				s.tooMany = true
				conn.Close() // "Too many authentication failures"
			}
			return nil, fmt.Errorf("key %s not authorized", Fingerprint(key))
		},
	}
	s.mu.Lock()
	cfg.AddHostKey(s.hostKey)
	s.mu.Unlock()
	sconn, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sconn.Close()
	go ssh.DiscardRequests(reqs) // replies false to keepalive@openssh.com, as sshd does
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(ch, chReqs)
	}
}

// session serves one session channel: exec, the sftp subsystem and signals.
// When the client closes the channel the command's process group is killed
// after a grace period.
func (s *testServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var (
		mu  sync.Mutex
		cmd *exec.Cmd
	)
	for req := range reqs {
		switch req.Type {
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				req.Reply(false, nil)
				continue
			}
			c := exec.Command("sh", "-c", payload.Command)
			s.mu.Lock()
			c.Env = append(os.Environ(), s.env...)
			s.mu.Unlock()
			c.Stdin = ch
			c.Stdout = ch
			c.Stderr = ch.Stderr()
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			c.WaitDelay = time.Second
			if err := c.Start(); err != nil {
				req.Reply(false, nil)
				continue
			}
			mu.Lock()
			cmd = c
			mu.Unlock()
			s.mu.Lock()
			s.procs[c.Process.Pid] = true
			s.mu.Unlock()
			req.Reply(true, nil)
			go func() {
				err := c.Wait()
				s.mu.Lock()
				delete(s.procs, c.Process.Pid)
				s.mu.Unlock()
				status := 0
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
						ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
							Signal     string
							CoreDumped bool
							Msg, Lang  string
						}{Signal: signalName(ws.Signal())}))
						ch.Close()
						return
					}
					status = exit.ExitCode()
				} else if err != nil {
					status = 255
				}
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
				ch.Close()
			}()
		case "subsystem":
			var payload struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil || payload.Name != "sftp" {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			go func() {
				srv, err := sftp.NewServer(ch)
				if err != nil {
					ch.Close()
					return
				}
				srv.Serve()
				srv.Close()
			}()
		case "signal":
			var payload struct{ Signal string }
			ssh.Unmarshal(req.Payload, &payload)
			mu.Lock()
			if cmd != nil && payload.Signal == string(ssh.SIGTERM) {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			}
			mu.Unlock()
			if req.WantReply {
				req.Reply(true, nil)
			}
		default:
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
	// Channel closed by the client (or the connection dropped). Like sshd
	// without a pty, leave the process alone for a moment (it may be
	// handling a SIGTERM), then reap it so tests leak nothing.
	mu.Lock()
	if cmd != nil {
		pid := cmd.Process.Pid
		time.AfterFunc(2*time.Second, func() { syscall.Kill(-pid, syscall.SIGKILL) })
	}
	mu.Unlock()
}

func signalName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "TERM"
	case syscall.SIGKILL:
		return "KILL"
	case syscall.SIGINT:
		return "INT"
	case syscall.SIGHUP:
		return "HUP"
	}
	return fmt.Sprintf("SIG%d", int(sig))
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newKey(t *testing.T, name string) Key {
	return Key{Name: name, Signer: newSigner(t)}
}

// freePort returns a loopback port that nothing listens on (right now).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// blackholeProxy forwards TCP to target until freeze is called; after that it
// swallows everything, like a host that vanished without a RST.
type blackholeProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
}

func newBlackholeProxy(t *testing.T, target string) *blackholeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blackholeProxy{ln: ln}
	var conns []net.Conn
	var connsMu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			c.Close()
		}
		connsMu.Unlock()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			connsMu.Lock()
			conns = append(conns, in, out)
			connsMu.Unlock()
			go p.pipe(out, in)
			go p.pipe(in, out)
		}
	}()
	return p
}

func (p *blackholeProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *blackholeProxy) freeze() {
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
}

func (p *blackholeProxy) pipe(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		frozen := p.frozen
		p.mu.Unlock()
		if !frozen {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}
