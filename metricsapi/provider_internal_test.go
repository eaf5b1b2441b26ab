package metricsapi

import (
	"math"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		gr   schema.GroupResource
		want string
	}{
		{schema.GroupResource{Group: "apps", Resource: "deployments"}, KindDeployment},
		{schema.GroupResource{Group: "", Resource: "deployments"}, KindDeployment},
		{schema.GroupResource{Group: "apps", Resource: "deployment"}, KindDeployment},
		{schema.GroupResource{Group: "apps", Resource: "statefulsets"}, KindStatefulSet},
		{schema.GroupResource{Group: "extensions", Resource: "deployments"}, ""},
		{schema.GroupResource{Group: "apps", Resource: "daemonsets"}, ""},
		{schema.GroupResource{Resource: "pods"}, ""},
	} {
		if got := kindOf(tc.gr); got != tc.want {
			t.Errorf("kindOf(%s) = %q, want %q", tc.gr, got, tc.want)
		}
	}
}

// TestQuantity checks that values are rounded up, never down (a rounding
// must not under-provision), and that what a quantity cannot hold is an
// error rather than a wrong value.
func TestQuantity(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{42, "42"},
		{12.3451, "12346m"},
		{0.0001, "1m"},
		{-1.5, "-1500m"},
		{1e16, "10P"}, // beyond 9.2e15: whole units
	} {
		q, err := quantity(tc.v)
		if err != nil || q.String() != tc.want {
			t.Errorf("quantity(%g) = %s, %v; want %s", tc.v, q.String(), err, tc.want)
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300} {
		if q, err := quantity(v); err == nil {
			t.Errorf("quantity(%g) = %s, want an error", v, q.String())
		}
	}
}
