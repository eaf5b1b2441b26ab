package suggest

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// KubeCluster answers Cluster with list calls of a kubernetes.Interface.
// It never reads Secrets (ErrNotChecked).
type KubeCluster struct{ client kubernetes.Interface }

// NewKubeCluster wraps client.
func NewKubeCluster(client kubernetes.Interface) *KubeCluster { return &KubeCluster{client: client} }

var _ Cluster = (*KubeCluster)(nil)

// Namespaces implements Cluster.
func (k *KubeCluster) Namespaces(ctx context.Context) ([]string, error) {
	l, err := k.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(l.Items))
	for i, x := range l.Items {
		out[i] = x.Name
	}
	return out, nil
}

// Names implements Cluster.
func (k *KubeCluster) Names(ctx context.Context, kind, ns string) ([]string, error) {
	opts := metav1.ListOptions{}
	var names []string
	add := func(n string) { names = append(names, n) }
	c := k.client
	switch kind {
	case "pods":
		l, err := c.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "deployments":
		l, err := c.AppsV1().Deployments(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "statefulsets":
		l, err := c.AppsV1().StatefulSets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "daemonsets":
		l, err := c.AppsV1().DaemonSets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "replicasets":
		l, err := c.AppsV1().ReplicaSets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "services":
		l, err := c.CoreV1().Services(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "jobs":
		l, err := c.BatchV1().Jobs(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "cronjobs":
		l, err := c.BatchV1().CronJobs(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "nodes":
		l, err := c.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "namespaces":
		return k.Namespaces(ctx)
	case "persistentvolumeclaims":
		l, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "horizontalpodautoscalers":
		l, err := c.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, x := range l.Items {
			add(x.Name)
		}
	case "secrets", "configmaps":
		// Listing would transfer their data; names are not worth that.
		return nil, ErrNotChecked
	default:
		return nil, fmt.Errorf("%s: %w", kind, ErrNotChecked)
	}
	return names, nil
}
