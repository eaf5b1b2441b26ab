//go:build tools

// Package thanos pins the Thanos release whose querier and sidecar the
// PromQL reader's tests run against (build.sh builds them). It is its own
// module so that Foresight does not depend on Thanos.
package thanos

import _ "github.com/thanos-io/thanos/cmd/thanos"
