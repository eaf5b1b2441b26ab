package metricsapi

import (
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/metrics/pkg/apis/custom_metrics"
	"k8s.io/metrics/pkg/apis/external_metrics"
	"sigs.k8s.io/custom-metrics-apiserver/pkg/provider"
)

// DiscoveryManager is where an API server lists its groups for aggregated
// discovery: the AggregatedDiscoveryGroupManager of a
// k8s.io/apiserver GenericAPIServer.
type DiscoveryManager interface {
	AddGroupVersion(groupName string, value apidiscoveryv2.APIVersionDiscovery)
	SetGroupVersionPriority(gv metav1.GroupVersion, groupPriority, versionPriority int)
}

// AddAggregatedDiscovery lists the provider's API groups, versions and
// metrics in aggregated discovery (the /apis document clients ask for
// since Kubernetes 1.30). custom-metrics-apiserver v1.36 installs its
// groups in the legacy discovery documents only, so a server built on it
// answers aggregated discovery with no metrics groups: the kube-aggregator
// then lists the APIService's group version with no resources, and clients
// that read resources from discovery (kubectl api-resources) see none.
// Call it once the server is built, before it runs; external says whether
// the external metrics API is installed too.
func (p *Provider) AddAggregatedDiscovery(m DiscoveryManager, external bool) {
	// The versions the library installs, the first preferred.
	customVersions := []string{"v1beta2", "v1beta1"}
	var custom []apidiscoveryv2.APIResourceDiscovery
	seen := map[string]bool{}
	for _, info := range p.custom {
		name := info.GroupResource.String() + "/" + info.Metric
		if seen[name] {
			continue
		}
		seen[name] = true
		custom = append(custom, apidiscoveryv2.APIResourceDiscovery{
			Resource: name,
			Scope:    apidiscoveryv2.ScopeNamespace,
			Verbs:    []string{"get"},
		})
	}
	for i, v := range customVersions {
		rs := make([]apidiscoveryv2.APIResourceDiscovery, len(custom))
		for j, r := range custom {
			r.ResponseKind = &metav1.GroupVersionKind{Group: custom_metrics.GroupName, Version: v, Kind: "MetricValueList"}
			rs[j] = r
		}
		m.AddGroupVersion(custom_metrics.GroupName, apidiscoveryv2.APIVersionDiscovery{Version: v, Resources: rs, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent})
		m.SetGroupVersionPriority(metav1.GroupVersion{Group: custom_metrics.GroupName, Version: v}, 100, len(customVersions)-i)
	}
	if !external {
		return
	}
	var ext []apidiscoveryv2.APIResourceDiscovery
	for _, info := range p.external {
		ext = append(ext, externalResource(info))
	}
	m.AddGroupVersion(external_metrics.GroupName, apidiscoveryv2.APIVersionDiscovery{Version: "v1beta1", Resources: ext, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent})
	m.SetGroupVersionPriority(metav1.GroupVersion{Group: external_metrics.GroupName, Version: "v1beta1"}, 100, 1)
}

func externalResource(info provider.ExternalMetricInfo) apidiscoveryv2.APIResourceDiscovery {
	return apidiscoveryv2.APIResourceDiscovery{
		Resource:     info.Metric,
		Scope:        apidiscoveryv2.ScopeNamespace,
		Verbs:        []string{"get"},
		ResponseKind: &metav1.GroupVersionKind{Group: external_metrics.GroupName, Version: "v1beta1", Kind: "ExternalMetricValueList"},
	}
}
