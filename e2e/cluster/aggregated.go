package cluster

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// RegisterAPIService makes kube-apiserver's aggregator route group/version
// to a server listening on HostIP:port, as a Deployment's pod behind a
// Service would be: a selector-less Service and its EndpointSlice in
// namespace, and the APIService. The server's certificate is not
// verified (insecureSkipTLSVerify), as for a self-signed adapter; the
// call returns once the aggregator reports the APIService Available.
func (c *Cluster) RegisterAPIService(ctx context.Context, namespace, service, group, version string, port int) error {
	manifests := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  ports: [{name: https, port: 443, targetPort: %[5]d, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[2]s-e2e
  namespace: %[1]s
  labels: {kubernetes.io/service-name: %[2]s}
addressType: IPv4
ports: [{name: https, port: %[5]d, protocol: TCP}]
endpoints: [{addresses: ["%[6]s"], conditions: {ready: true}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: %[4]s.%[3]s}
spec:
  service: {name: %[2]s, namespace: %[1]s, port: 443}
  group: %[3]s
  version: %[4]s
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
`, namespace, service, group, version, port, HostIP)
	if err := c.Apply(ctx, manifests); err != nil {
		return err
	}
	name := version + "." + group
	return waitFor(ctx, nil, 60*time.Second, "APIService "+name+" Available", func(ctx context.Context) (bool, error) {
		ok, err := c.apiServiceAvailable(ctx, name)
		if err != nil && strings.Contains(err.Error(), "not found") {
			err = nil
		}
		return ok, err
	})
}

// FreeHostPort returns a port on HostIP that was free a moment ago, for a
// server that RegisterAPIService will route to.
func FreeHostPort() (int, error) {
	l, err := net.Listen("tcp", HostIP+":0")
	if err != nil {
		return 0, fmt.Errorf("listen on %s (is the e2e network up?): %w", HostIP, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
