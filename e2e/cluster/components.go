package cluster

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
)

func (c *Cluster) run(name string, args []string, env ...string) (*process, error) {
	p, err := start(c.Dir, name, filepath.Join(c.Bin, name), args, env)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	c.byName[name] = p
	return p, nil
}

// waitFor polls f until it holds, failing early if p exits.
func waitFor(ctx context.Context, p *process, timeout time.Duration, what string, f func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return poll(ctx, 250*time.Millisecond, what, func(ctx context.Context) (bool, error) {
		if p != nil && !p.running() {
			return false, p.exitError()
		}
		return f(ctx)
	})
}

func (c *Cluster) startEtcd(ctx context.Context) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	cu := "http://127.0.0.1:" + strconv.Itoa(client)
	pu := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := c.run("etcd", []string{
		"--name=e2e", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + cu, "--advertise-client-urls=" + cu,
		"--listen-peer-urls=" + pu, "--initial-advertise-peer-urls=" + pu, "--initial-cluster=e2e=" + pu,
		"--unsafe-no-fsync", "--quota-backend-bytes=2147483648",
	})
	if err != nil {
		return err
	}
	c.etcdURL = cu
	return waitFor(ctx, p, 30*time.Second, "etcd /health", func(ctx context.Context) (bool, error) {
		return httpOK(ctx, http.DefaultClient, cu+"/health")
	})
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	pki := filepath.Join(c.Dir, "pki")
	ca, err := newAuthority("foresight-e2e-ca")
	if err != nil {
		return err
	}
	c.ca = ca
	caFile := filepath.Join(pki, "ca.crt")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		return err
	}
	if err := ca.writeKey(filepath.Join(pki, "ca.key")); err != nil {
		return err
	}
	serving, servingKey, err := ca.writePair(pki, leaf{name: "kube-apiserver", server: true, hosts: []string{
		"127.0.0.1", "10.0.0.1", HostIP, "localhost", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	}})
	if err != nil {
		return err
	}
	front, err := newAuthority("foresight-e2e-front-proxy-ca")
	if err != nil {
		return err
	}
	frontFile := filepath.Join(pki, "front-proxy-ca.crt")
	if err := os.WriteFile(frontFile, front.pem, 0o600); err != nil {
		return err
	}
	proxy, proxyKey, err := front.writePair(pki, leaf{name: "front-proxy-client"})
	if err != nil {
		return err
	}
	saPub, saKey, err := writeServiceAccountKeys(pki)
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	p, err := c.run("kube-apiserver", []string{
		"--etcd-servers=" + c.etcdURL, "--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--advertise-address=" + HostIP, "--service-cluster-ip-range=10.0.0.0/24",
		"--tls-cert-file=" + serving, "--tls-private-key-file=" + servingKey, "--client-ca-file=" + caFile,
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--requestheader-client-ca-file=" + frontFile, "--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + proxy, "--proxy-client-key-file=" + proxyKey,
		"--enable-aggregator-routing=true", "--allow-privileged=true",
	})
	if err != nil {
		return err
	}
	admin, adminKey, err := ca.writePair(pki, leaf{name: "admin", groups: []string{"system:masters"}})
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, server, ca.pem, admin, adminKey); err != nil {
		return err
	}
	kcm, kcmKey, err := ca.writePair(pki, leaf{name: "system:kube-controller-manager"})
	if err != nil {
		return err
	}
	c.kcmCfg = filepath.Join(c.Dir, "kcm.kubeconfig")
	if err := writeKubeconfig(c.kcmCfg, server, ca.pem, kcm, kcmKey); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return err
	}
	if err := c.clients(cfg); err != nil {
		return err
	}
	return waitFor(ctx, p, 60*time.Second, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", err
	})
}

func (c *Cluster) startControllerManager(ctx context.Context) error {
	pki := filepath.Join(c.Dir, "pki")
	p, err := c.run("kube-controller-manager", []string{
		"--kubeconfig=" + c.kcmCfg, "--authentication-kubeconfig=" + c.kcmCfg, "--authorization-kubeconfig=" + c.kcmCfg,
		"--bind-address=127.0.0.1", "--secure-port=0", "--controllers=*", "--use-service-account-credentials=true",
		"--service-account-private-key-file=" + filepath.Join(pki, "sa.key"), "--root-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--cluster-signing-cert-file=" + filepath.Join(pki, "ca.crt"), "--cluster-signing-key-file=" + filepath.Join(pki, "ca.key"),
		"--leader-elect=false", "--horizontal-pod-autoscaler-sync-period=5s",
	})
	if err != nil {
		return err
	}
	// Ready once it has created the default ServiceAccount, which needs
	// its token and service-account controllers running.
	return waitFor(ctx, p, 60*time.Second, "kube-controller-manager (the default ServiceAccount)", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

func httpOK(ctx context.Context, client *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
