package metricsapi

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// DynamicLister lists workloads through a dynamic client: one list call
// (apps/v1) per lookup by label selector, needing list on deployments and
// statefulsets. Lookups by name, which is what an HPA's Object metric
// makes, never read the cluster.
type DynamicLister struct {
	Client dynamic.Interface
}

var _ Lister = DynamicLister{}

// ListNames lists the names of the objects of resource in namespace whose
// labels match selector.
func (l DynamicLister) ListNames(ctx context.Context, namespace string, resource schema.GroupResource, selector labels.Selector) ([]string, error) {
	list, err := l.Client.Resource(resource.WithVersion("v1")).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, fmt.Errorf("listing %s in %s: %w", resource, namespace, err)
	}
	names := make([]string, 0, len(list.Items))
	for _, o := range list.Items {
		names = append(names, o.GetName())
	}
	return names, nil
}
