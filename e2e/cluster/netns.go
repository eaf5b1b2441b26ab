package cluster

import (
	"fmt"
	"os/exec"
	"strings"
)

// The aggregator refuses loopback, link-local and unspecified endpoint
// addresses, so the metrics adapters that kube-apiserver proxies to need a
// real interface address. The harness makes one: a veth pair whose far end
// lives in a network namespace of its own (which needs CAP_NET_ADMIN,
// i.e. root), with HostIP on the near end. Adapters bind HostIP; every
// other listener stays on loopback.
const (
	netnsName = "foresight-e2e"
	vethHost  = "veth-fs-e2e"
	vethPeer  = "veth-fs-e2e-ns"
	// HostIP is the address adapters listen on, reachable from the API server.
	HostIP = "10.213.0.1"
	peerIP = "10.213.0.2"
)

// setupNetwork creates the namespace and the veth pair, first removing
// any left by an earlier run.
func setupNetwork() error {
	teardownNetwork()
	steps := [][]string{
		{"netns", "add", netnsName},
		{"link", "add", vethHost, "type", "veth", "peer", "name", vethPeer},
		{"link", "set", vethPeer, "netns", netnsName},
		{"addr", "add", HostIP + "/30", "dev", vethHost},
		{"link", "set", vethHost, "up"},
		{"netns", "exec", netnsName, "ip", "addr", "add", peerIP + "/30", "dev", vethPeer},
		{"netns", "exec", netnsName, "ip", "link", "set", vethPeer, "up"},
		{"netns", "exec", netnsName, "ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			teardownNetwork()
			return fmt.Errorf("ip %s: %w: %s (the e2e harness needs root, or CAP_NET_ADMIN, and iproute2)",
				strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// teardownNetwork removes the veth pair (deleting one end deletes both)
// and the namespace; missing ones are not an error.
func teardownNetwork() {
	_ = exec.Command("ip", "link", "del", vethHost).Run()
	_ = exec.Command("ip", "netns", "del", netnsName).Run()
}
