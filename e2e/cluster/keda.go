package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kedaInfra stands in for what KEDA's Helm chart creates and a kubelet
// would serve: the namespace, and a selector-less Service for the metrics
// adapter whose EndpointSlice points at HostIP, where the adapter listens
// as a host process. The APIService has no caBundle: KEDA's certificate
// rotator injects it.
const kedaInfra = `apiVersion: v1
kind: Namespace
metadata: {name: keda}
---
apiVersion: v1
kind: Service
metadata: {name: keda-metrics-apiserver, namespace: keda}
spec:
  ports: [{name: https, port: 443, targetPort: 6443, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: keda-metrics-apiserver-e2e
  namespace: keda
  labels: {kubernetes.io/service-name: keda-metrics-apiserver}
addressType: IPv4
ports: [{name: https, port: 6443, protocol: TCP}]
endpoints: [{addresses: ["` + HostIP + `"], conditions: {ready: true}}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  service: {name: keda-metrics-apiserver, namespace: keda, port: 443}
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
`

// startKEDA applies KEDA's CRDs and starts its operator and metrics
// adapter out of cluster.
func (c *Cluster) startKEDA(ctx context.Context) error {
	if _, err := c.Kubectl(ctx, "", "apply", "--server-side", "-f", filepath.Join(c.Bin, "keda-crds")); err != nil {
		return err
	}
	if err := c.Apply(ctx, kedaInfra); err != nil {
		return err
	}
	certDir := filepath.Join(c.Dir, "keda-certs")
	if err := os.MkdirAll(certDir, 0o755); err != nil {
		return err
	}
	var ports [4]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	grpcAddr := "127.0.0.1:" + strconv.Itoa(ports[2])
	env := []string{"KUBECONFIG=" + c.Kubeconfig, "POD_NAMESPACE=keda", "WATCH_NAMESPACE=", "KEDA_CLUSTER_OBJECT_NAMESPACE=keda"}
	opArgs := []string{
		"--leader-elect=false", "--enable-cert-rotation=true", "--cert-dir=" + certDir,
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(ports[0]),
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(ports[1]),
		"--metrics-service-bind-address=" + grpcAddr, "--enable-webhook-patching=false",
	}
	// On its first start the operator's certificate rotator writes Secret
	// keda/kedaorg-certs and exits for the kubelet to restart it with the
	// Secret mounted; here the harness plays the kubelet.
	first, err := c.run("keda-operator", opArgs, env...)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	err = first.wait(wctx)
	cancel()
	if err != nil {
		return fmt.Errorf("KEDA's operator did not exit after writing its certificates: %w\n%s", err, first.tail(3000))
	}
	sec, err := c.Client.CoreV1().Secrets("keda").Get(ctx, "kedaorg-certs", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("KEDA's operator exited without writing Secret keda/kedaorg-certs: %w\n%s", err, first.tail(3000))
	}
	for _, f := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certDir, f), sec.Data[f], 0o600); err != nil {
			return err
		}
	}
	op, err := c.run("keda-operator", opArgs, env...)
	if err != nil {
		return err
	}
	adapter, err := c.run("keda-adapter", []string{
		"--secure-port=6443", "--bind-address=" + HostIP,
		"--client-ca-file=" + filepath.Join(c.Dir, "pki", "ca.crt"),
		"--tls-cert-file=" + filepath.Join(certDir, "tls.crt"), "--tls-private-key-file=" + filepath.Join(certDir, "tls.key"),
		"--cert-dir=" + certDir,
		"--authentication-kubeconfig=" + c.Kubeconfig, "--authorization-kubeconfig=" + c.Kubeconfig,
		"--lister-kubeconfig=" + c.Kubeconfig,
		"--metrics-service-address=" + grpcAddr,
		"--metrics-service-grpc-authority=keda-operator.keda.svc.cluster.local",
		"--port=" + strconv.Itoa(ports[3]),
	}, env...)
	if err != nil {
		return err
	}
	return waitFor(ctx, nil, 120*time.Second, "APIService v1beta1.external.metrics.k8s.io Available", func(ctx context.Context) (bool, error) {
		for _, p := range []*process{op, adapter} {
			if !p.running() {
				return false, p.exitError()
			}
		}
		return c.apiServiceAvailable(ctx, "v1beta1.external.metrics.k8s.io")
	})
}

// apiServiceAvailable reports whether the aggregator marks the APIService
// Available.
func (c *Cluster) apiServiceAvailable(ctx context.Context, name string) (bool, error) {
	u, err := c.Dynamic.Resource(apiServiceGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == "Available" {
			if m["status"] == "True" {
				return true, nil
			}
			return false, fmt.Errorf("%s: %v", m["reason"], m["message"])
		}
	}
	return false, nil
}
