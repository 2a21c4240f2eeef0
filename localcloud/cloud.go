// Package localcloud is a fake Scaleway API for the demo and the tests, a
// part of the product like its VM runner (localcloud/qemu) and the
// nixos-infect stand-in (localcloud/standin): an in-memory
// implementation of the few instance, marketplace and block endpoints that
// provider/scaleway uses, answering with the real JSON shapes and error bodies
// so that the real scaleway-sdk-go talks to it through scw.WithAPIURL.
//
// Powering a server on boots a Machine (see Machines): a no-op one in unit
// tests, a qemu VM reachable at the server's loopback "public" address in the
// e2e tests and the demo. Faults (429 storms, 5xx, transient-state 409s and
// 412s with the real bodies, slow answers, lost create responses committed
// at once or late, lists lagging behind creates, servers stuck in
// "starting") can be injected at run time; Options.ListLag makes every list
// lag.
//
// Endpoints (all but /_localcloud/ need an X-Auth-Token):
//
//	GET    /metadata                                        (the SDK asks it when listing servers)
//	GET    /marketplace/v2/local-images                     image_label, image_id, zone, type, arch filters
//	GET    /marketplace/v2/local-images/{id}
//	GET    /instance/v1/zones/{zone}/products/servers       DEV1-S, DEV1-M, PLAY2-PICO, PRO2-XXS
//	GET    /instance/v1/zones/{zone}/ips                    tags, name, project, type filters
//	POST   /instance/v1/zones/{zone}/ips                    routed_ipv4 from the loopback pool
//	GET    /instance/v1/zones/{zone}/ips/{id or address}
//	DELETE /instance/v1/zones/{zone}/ips/{id or address}
//	GET    /instance/v1/zones/{zone}/servers                tags, name, project, state, servers filters
//	POST   /instance/v1/zones/{zone}/servers                SBS root volume from the image
//	GET    /instance/v1/zones/{zone}/servers/{id}
//	DELETE /instance/v1/zones/{zone}/servers/{id}           stopped servers only
//	POST   /instance/v1/zones/{zone}/servers/{id}/action    poweron, poweroff, terminate, reboot
//	GET    /instance/v1/zones/{zone}/servers/{id}/user_data
//	GET    /instance/v1/zones/{zone}/servers/{id}/user_data/{key}   text/plain; a missing key is a bare 404
//	PATCH  /instance/v1/zones/{zone}/servers/{id}/user_data/{key}   text/plain
//	DELETE /instance/v1/zones/{zone}/servers/{id}/user_data/{key}   (Inventory shows the keys a server holds)
//	GET    /block/v1alpha1/zones/{zone}/volumes             product_resource_id, tags, name, project_id filters
//	GET    /block/v1alpha1/zones/{zone}/volumes/{id}
//	DELETE /block/v1alpha1/zones/{zone}/volumes/{id}        detached volumes only
//
// Admin endpoints (no token, no faults):
//
//	GET    /_localcloud/resources  Inventory of live resources (Cloud.Resources)
//	GET    /_localcloud/requests   request log (Cloud.Requests)
//	GET    /_localcloud/faults     active faults (Cloud.Faults)
//	POST   /_localcloud/faults     add a Fault, e.g. {"kind":"status","status":429,"method":"GET","count":8}
//	                               or {"kind":"lost_response","method":"POST","path":"/instance/v1/zones/*/servers","commit_delay":"3s","list_lag":"5s"}
//	DELETE /_localcloud/faults     clear faults and release stuck boots (Cloud.ClearFaults)
//	POST   /_localcloud/release    release servers stuck in "starting" (Cloud.ReleaseStuck)
//
// It imports nothing from e2e/ (the suites use it, not the reverse) and
// nothing of bootstrap's pipeline or providers.
package localcloud

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/scaleway/scaleway-sdk-go/scw"
)

// Options configure a Cloud. The zero value is usable.
type Options struct {
	// Token is the secret key accepted in X-Auth-Token. Empty accepts any
	// UUID-shaped key; a missing header is always refused.
	Token string
	// Zones served by the API. Default: scw.AllZones.
	Zones []scw.Zone
	// Addresses is the pool handed out to flexible IPs. Every address must be
	// in 127.0.0.0/8: machines listen there. Default 127.0.0.100-127.0.0.149.
	Addresses []netip.Addr
	// Machines boots and stops the servers. Default NoopMachines{}.
	Machines Machines
	// ListLag is how long a new server or flexible IP stays out of list
	// answers (a GET by id finds it at once), as the real API's lists lag
	// behind its creates. Faults can add their own (Fault.ListLag).
	// Default 0.
	ListLag time.Duration
	// DetachDelay is how long an SBS volume stays "in_use" with a
	// "detaching" reference after its server is deleted (the real API takes
	// a second or two). Default 0.
	DetachDelay time.Duration
	// Log gets one line per request and per state change. Default: none.
	Log io.Writer
}

// DefaultAddresses is the default pool: 127.0.0.100 to 127.0.0.149.
func DefaultAddresses() []netip.Addr {
	return AddressRange(netip.MustParseAddr("127.0.0.100"), netip.MustParseAddr("127.0.0.149"))
}

// AddressRange lists the addresses from first to last, both included.
func AddressRange(first, last netip.Addr) []netip.Addr {
	var out []netip.Addr
	for a := first; a.IsValid() && a.Compare(last) <= 0; a = a.Next() {
		out = append(out, a)
	}
	return out
}

// Cloud is the fake API. All state is in memory behind one mutex.
type Cloud struct {
	opts    Options
	catalog *catalog
	handler http.Handler

	ctx    context.Context // cancelled by Close: stops boots in progress
	cancel context.CancelFunc
	wg     sync.WaitGroup // boot and stop goroutines

	mu       sync.Mutex
	servers  map[string]*server
	ips      map[string]*flexibleIP
	volumes  map[string]*sbsVolume
	faults   faultSet
	requests []Request
	httpSrv  *http.Server
	closed   bool
}

// New returns a Cloud; it panics if an address of the pool is not loopback,
// because machines would then listen on a real network.
func New(opts Options) *Cloud {
	if len(opts.Zones) == 0 {
		opts.Zones = append([]scw.Zone(nil), scw.AllZones...)
	}
	if len(opts.Addresses) == 0 {
		opts.Addresses = DefaultAddresses()
	}
	for _, a := range opts.Addresses {
		if !a.Is4() || !a.IsLoopback() {
			panic(fmt.Sprintf("localcloud: address %s is not in 127.0.0.0/8", a))
		}
	}
	if opts.Machines == nil {
		opts.Machines = NoopMachines{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cloud{
		opts:    opts,
		catalog: newCatalog(opts.Zones),
		ctx:     ctx,
		cancel:  cancel,
		servers: map[string]*server{},
		ips:     map[string]*flexibleIP{},
		volumes: map[string]*sbsVolume{},
	}
	c.faults.release = make(chan struct{})
	c.handler = c.routes()
	return c
}

// Handler serves the API (and the /_localcloud/ admin endpoints).
func (c *Cloud) Handler() http.Handler { return c.handler }

// ListenAndServe serves the API on addr, which must be a loopback address
// ("127.0.0.1:8080"), until Close. It returns nil after Close.
func (c *Cloud) ListenAndServe(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("localcloud listen address %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return fmt.Errorf("localcloud listen address %q: want a loopback IP such as 127.0.0.1", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("localcloud listen: %w", err)
	}
	return c.Serve(l)
}

// Serve serves the API on l until Close. It returns nil after Close.
func (c *Cloud) Serve(l net.Listener) error {
	srv := &http.Server{Handler: c.handler, ReadHeaderTimeout: 10 * time.Second}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.Close()
		return errors.New("localcloud: closed")
	}
	c.httpSrv = srv
	c.mu.Unlock()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving, cancels boots in progress, waits for them and stops
// every machine still running. Servers, IPs and volumes stay in Resources().
func (c *Cloud) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	srv := c.httpSrv
	c.cancel() // before releasing stuck boots, so that they do not boot
	c.faults.releaseStuck()
	c.mu.Unlock()

	var errs []error
	if srv != nil {
		errs = append(errs, srv.Close())
	}
	c.wg.Wait()

	c.mu.Lock()
	var machines []Machine
	for _, s := range c.servers {
		if s.machine != nil {
			machines = append(machines, s.machine)
			s.machine = nil
		}
	}
	c.mu.Unlock()
	for _, m := range machines {
		errs = append(errs, m.Stop())
	}
	return errors.Join(errs...)
}

func (c *Cloud) logf(format string, args ...any) {
	if c.opts.Log != nil {
		fmt.Fprintf(c.opts.Log, "localcloud: "+format+"\n", args...)
	}
}

// routes wires the API. Method-qualified patterns make the mux answer 405 for
// a known path with the wrong method.
func (c *Cloud) routes() http.Handler {
	api := http.NewServeMux()
	const inst = "/instance/v1/zones/{zone}"
	api.HandleFunc("GET /metadata", func(w http.ResponseWriter, r *http.Request) {
		// The SDK asks the gateway where it runs (for SRNs) when listing servers.
		writeJSON(w, http.StatusOK, scw.ApiMetadata{Platform: "localcloud", Partition: "localcloud", Domain: "localcloud"})
	})
	api.HandleFunc("GET /marketplace/v2/local-images", c.listLocalImages)
	api.HandleFunc("GET /marketplace/v2/local-images/{id}", c.getLocalImage)
	api.HandleFunc("GET "+inst+"/products/servers", c.listServerTypes)

	api.HandleFunc("GET "+inst+"/ips", c.listIPs)
	api.HandleFunc("POST "+inst+"/ips", c.createIP)
	api.HandleFunc("GET "+inst+"/ips/{ip}", c.getIP)
	api.HandleFunc("DELETE "+inst+"/ips/{ip}", c.deleteIP)

	api.HandleFunc("GET "+inst+"/servers", c.listServers)
	api.HandleFunc("POST "+inst+"/servers", c.createServer)
	api.HandleFunc("GET "+inst+"/servers/{id}", c.getServer)
	api.HandleFunc("DELETE "+inst+"/servers/{id}", c.deleteServer)
	api.HandleFunc("POST "+inst+"/servers/{id}/action", c.serverAction)
	api.HandleFunc("GET "+inst+"/servers/{id}/user_data", c.listUserData)
	api.HandleFunc("GET "+inst+"/servers/{id}/user_data/{key}", c.getUserData)
	api.HandleFunc("PATCH "+inst+"/servers/{id}/user_data/{key}", c.setUserData)
	api.HandleFunc("DELETE "+inst+"/servers/{id}/user_data/{key}", c.deleteUserData)

	const block = "/block/v1alpha1/zones/{zone}"
	api.HandleFunc("GET "+block+"/volumes", c.listVolumes)
	api.HandleFunc("GET "+block+"/volumes/{id}", c.getVolume)
	api.HandleFunc("DELETE "+block+"/volumes/{id}", c.deleteVolume)

	api.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeNotFound(w, "unknown", r.URL.Path)
	})

	root := http.NewServeMux()
	root.Handle("/_localcloud/", c.adminRoutes())
	root.Handle("/", c.record(c.injectFaults(c.authenticate(api))))
	return root
}

// authenticate checks X-Auth-Token like the API gateway does.
func (c *Cloud) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get("X-Auth-Token")
		switch {
		case !isUUID(token):
			writeDenied(w, "invalid_argument")
		case c.opts.Token != "" && token != c.opts.Token:
			writeDenied(w, "not_found")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// zone returns the {zone} of the request, answering 400 itself when the
// local cloud does not serve it.
func (c *Cloud) zone(w http.ResponseWriter, r *http.Request) (scw.Zone, bool) {
	z := scw.Zone(r.PathValue("zone"))
	for _, known := range c.opts.Zones {
		if z == known {
			return z, true
		}
	}
	writeInvalidArgument(w, "zone", "constraint", fmt.Sprintf("unknown zone %q", z))
	return "", false
}

// decodeBody decodes a JSON request body into v (an SDK request struct),
// answering 400 itself on malformed JSON.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeInvalidArgument(w, "body", "format", "invalid JSON: "+err.Error())
		return false
	}
	return true
}

// paginate returns the requested page of items. sizeParam is "per_page" on
// the instance API and "page_size" on the newer ones.
func paginate[T any](items []T, r *http.Request, sizeParam string) []T {
	size, err := strconv.Atoi(r.URL.Query().Get(sizeParam))
	if err != nil || size <= 0 {
		size = 50
	}
	size = min(size, 100)
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	start := (page - 1) * size
	if start >= len(items) {
		return []T{}
	}
	return items[start:min(start+size, len(items))]
}

// writeList answers a list the way the instance API does: the total in the
// X-Total-Count header (the SDK reads it for pagination).
func writeList(w http.ResponseWriter, total int, v any) {
	w.Header().Set("X-Total-Count", strconv.Itoa(total))
	writeJSON(w, http.StatusOK, v)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// epoch is the creation date of catalog items.
var epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
