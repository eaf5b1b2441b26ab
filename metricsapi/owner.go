package metricsapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// externalAPIService is the APIService that routes external.metrics.k8s.io.
const externalAPIService = "v1beta1.external.metrics.k8s.io"

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// ErrKEDAOwnsExternal is returned by CheckExternalOwner when KEDA's
// metrics adapter serves external.metrics.k8s.io.
var ErrKEDAOwnsExternal = errors.New("KEDA serves external.metrics.k8s.io in this cluster")

// CheckExternalOwner reads the APIService of external.metrics.k8s.io and
// returns the Service it routes to ("namespace/name"; "" if there is no
// such APIService, or it routes to no Service). When that Service is
// KEDA's (its APIService is labelled app.kubernetes.io/part-of:
// keda-operator, or the Service's name starts with keda-), the error wraps
// ErrKEDAOwnsExternal: a second server there would take every
// ScaledObject's metrics away from KEDA.
func CheckExternalOwner(ctx context.Context, client dynamic.Interface) (string, error) {
	o, err := client.Resource(apiServices).Get(ctx, externalAPIService, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("reading APIService %s: %w", externalAPIService, err)
	}
	return externalOwner(o)
}

func externalOwner(o *unstructured.Unstructured) (string, error) {
	ns, _, _ := unstructured.NestedString(o.Object, "spec", "service", "namespace")
	name, _, _ := unstructured.NestedString(o.Object, "spec", "service", "name")
	if name == "" {
		return "", nil
	}
	owner := ns + "/" + name
	if o.GetLabels()["app.kubernetes.io/part-of"] == "keda-operator" || strings.HasPrefix(name, "keda-") {
		return owner, fmt.Errorf("%w (APIService %s routes to Service %s): serve custom metrics only (leave --enable-external-metrics off) and use HPA metrics of type Object, or KEDA with foresight serve",
			ErrKEDAOwnsExternal, externalAPIService, owner)
	}
	return owner, nil
}
