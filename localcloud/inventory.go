package localcloud

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/scaleway/scaleway-sdk-go/scw"
)

// Item is one live resource.
type Item struct {
	Zone  scw.Zone `json:"zone"`
	ID    string   `json:"id"`
	Name  string   `json:"name"`            // server name, IP address, volume name
	State string   `json:"state"`           // server state, IP attached/detached, volume status
	Tags  []string `json:"tags,omitempty"`  //
	Owner string   `json:"owner,omitempty"` // attached server id
	// UserData lists a server's user data keys ("cloud-init"...): what
	// anyone who can read the project's instances can read.
	UserData []string `json:"user_data,omitempty"`
}

// Inventory is what is alive, i.e. what a real account would be billed for.
type Inventory struct {
	Servers []Item `json:"servers"`
	IPs     []Item `json:"ips"`
	Volumes []Item `json:"volumes"`
}

// Empty reports whether nothing is left.
func (inv Inventory) Empty() bool {
	return len(inv.Servers) == 0 && len(inv.IPs) == 0 && len(inv.Volumes) == 0
}

// String lists the resources one per line, or "nothing".
func (inv Inventory) String() string {
	var b strings.Builder
	for _, group := range []struct {
		kind  string
		items []Item
	}{{"server", inv.Servers}, {"ip", inv.IPs}, {"volume", inv.Volumes}} {
		for _, it := range group.items {
			fmt.Fprintf(&b, "%s %s %s %s (%s)\n", group.kind, it.Zone, it.ID, it.Name, it.State)
		}
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Resources reports the servers, flexible IPs and volumes still alive.
func (c *Cloud) Resources() Inventory {
	c.mu.Lock()
	defer c.mu.Unlock()
	inv := Inventory{Servers: []Item{}, IPs: []Item{}, Volumes: []Item{}}
	for _, s := range c.servers {
		keys := slices.Sorted(maps.Keys(s.userData))
		inv.Servers = append(inv.Servers, Item{Zone: s.zone, ID: s.id, Name: s.name, State: string(s.state), Tags: cloneTags(s.tags), UserData: keys})
	}
	for _, ip := range c.ips {
		state := "detached"
		if ip.serverID != "" {
			state = "attached"
		}
		inv.IPs = append(inv.IPs, Item{Zone: ip.zone, ID: ip.id, Name: ip.addr.String(), State: state, Tags: cloneTags(ip.tags), Owner: ip.serverID})
	}
	t := now()
	for _, v := range c.volumes {
		state, owner := "available", ""
		if v.inUse(t) {
			state, owner = "in_use", v.attachedTo()
		}
		inv.Volumes = append(inv.Volumes, Item{Zone: v.zone, ID: v.id, Name: v.name, State: state, Tags: cloneTags(v.tags), Owner: owner})
	}
	for _, items := range [][]Item{inv.Servers, inv.IPs, inv.Volumes} {
		slices.SortFunc(items, func(a, b Item) int { return cmp.Or(cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.ID, b.ID)) })
	}
	return inv
}
