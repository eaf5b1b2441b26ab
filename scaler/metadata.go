package scaler

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/foresight-aiops/foresight/forecast"
	"github.com/foresight-aiops/foresight/internal/editdist"
)

// ErrInvalidMetadata is wrapped by every error ParsePolicy returns: the
// trigger's metadata is wrong, and asking again will not help. The gRPC
// server answers it with codes.InvalidArgument.
var ErrInvalidMetadata = errors.New("invalid trigger metadata")

// MetadataError is what is wrong with one key of a trigger's metadata. It
// wraps ErrInvalidMetadata.
type MetadataError struct {
	// Key is the key as written in the ScaledObject, e.g.
	// targetPerReplicaFromEnv.
	Key string
	// Value is the value given, trimmed; empty for a missing key, and for
	// an unknown one (whose value might be a secret put in the wrong
	// place).
	Value string
	// Problem says what is wrong and what would be valid.
	Problem string
}

// maxShownValue bounds how much of a value an error message repeats.
const maxShownValue = 80

// Error writes the key, the value (shortened) and the problem, e.g.
// targetPerReplica "abc": must be a positive number, ….
func (e *MetadataError) Error() string {
	if e.Value == "" {
		return shorten(e.Key) + ": " + e.Problem
	}
	return fmt.Sprintf("%s %q: %s", shorten(e.Key), shorten(e.Value), e.Problem)
}

// shorten cuts s to maxShownValue bytes.
func shorten(s string) string {
	if len(s) > maxShownValue {
		return s[:maxShownValue] + "..."
	}
	return s
}

// Unwrap returns ErrInvalidMetadata.
func (e *MetadataError) Unwrap() error { return ErrInvalidMetadata }

// Limits of a Policy, beyond the range of each field.
const (
	// minStep is the shortest step: Prometheus' range queries have a
	// resolution of seconds in practice.
	minStep = time.Second
	// minHistorySteps is the shortest history, in steps, worth fitting a
	// model to.
	minHistorySteps = 100
	// maxHistorySteps bounds the history, in steps, read and fitted for
	// one model: the memory and time of a fit grow with it.
	maxHistorySteps = 100_000
	// maxLeadSteps bounds the lead time, in steps, forecast ahead.
	maxLeadSteps = 1440
	// maxExcludeWindows bounds the windows a trigger may list (every point
	// of the history is checked against each); recurring outages are what
	// excludeQuery is for.
	maxExcludeWindows = 100
	// maxReplicaBound is the largest minReplicas or maxReplicas: a
	// Kubernetes replica count is an int32.
	maxReplicaBound = math.MaxInt32
	// maxDatasourceName is the longest datasource name.
	maxDatasourceName = 253
)

// Keys of the trigger metadata that Foresight reads, in the order String
// writes them. Each may also be given as KEY + "FromEnv", which KEDA
// resolves from the scaled workload's environment before sending it.
const (
	keyQuery               = "query"
	keyDatasource          = "datasource"
	keyTargetPerReplica    = "targetPerReplica"
	keyLeadTime            = "leadTime"
	keyQuantile            = "quantile"
	keyHistory             = "history"
	keyStep                = "step"
	keySeason              = "season"
	keyPeakCapFactor       = "peakCapFactor"
	keyMinReplicas         = "minReplicas"
	keyMaxReplicas         = "maxReplicas"
	keyExcludeWindows      = "excludeWindows"
	keyExcludeQuery        = "excludeQuery"
	keyExcludeAnomalies    = "excludeAnomalies"
	keyMode                = "mode"
	keyActivationThreshold = "activationThreshold"
	keyMaxStaleness        = "maxStaleness"
)

var policyKeys = []string{
	keyQuery, keyDatasource, keyTargetPerReplica, keyLeadTime, keyQuantile, keyHistory, keyStep, keySeason,
	keyPeakCapFactor, keyMinReplicas, keyMaxReplicas, keyExcludeWindows, keyExcludeQuery, keyExcludeAnomalies,
	keyMode, keyActivationThreshold, keyMaxStaleness,
}

// kedaKeys are KEDA's own keys of an external trigger, which KEDA sends
// along with the rest: accepted and ignored. tlsCertFile is one of older
// KEDA versions.
var kedaKeys = []string{"scalerAddress", "enableTLS", "unsafeSsl", "tlsCertFile"}

// authParamKeys are KEDA parameters that belong in a TriggerAuthentication:
// in the metadata KEDA ignores them and sends them on, so they are refused
// with a pointer to where they belong.
var authParamKeys = []string{"caCert", "tlsClientCert", "tlsClientKey"}

const fromEnv = "FromEnv"

// Problems of each key, saying what is valid.
const (
	problemQuery               = `required: the PromQL expression of the load, e.g. sum(rate(http_requests_total{job="api"}[2m]))`
	problemDatasourceURL       = "must be the name of a datasource configured on the server (e.g. default), not an address: trigger metadata never carries URLs, so that a ScaledObject cannot make Foresight call an arbitrary host; configure the URL on the server (--config or --prometheus-url)"
	problemDatasourceName      = "must be the name of a datasource configured on the server (e.g. default): letters, digits, '.', '_' and '-', at most 253 characters"
	problemTargetPerReplica    = "must be a positive number, the load one replica serves (e.g. 50)"
	problemLeadTime            = "must be a positive duration, the pod start-up to cover (e.g. 5m; units s, m, h, d, w)"
	problemQuantile            = "must be a number in [0.5, 1), the forecast quantile to provision for (e.g. 0.9)"
	problemHistory             = "must be a positive duration, the history to fit on (e.g. 7d; units s, m, h, d, w)"
	problemStep                = "must be a duration of at least 1s, the resolution of the history (e.g. 1m)"
	problemSeason              = "must be auto, none, or one or two seasonal periods such as 1d or 1d,1w"
	problemPeakCapFactor       = "must be a number of at least 1, the multiple of the history's peak the prediction may reach (e.g. 1.2)"
	problemMinReplicas         = "must be a whole number from 0 to 2147483647 (0: no lower bound of the scaler's own)"
	problemMaxReplicas         = "must be a whole number from 0 to 2147483647 (0: no upper bound of the scaler's own)"
	problemExcludeWindows      = "must be START/END ranges in RFC 3339 separated by ',' or ';', e.g. 2026-03-10T14:00:00Z/2026-03-10T15:30:00Z"
	problemExcludeAnomalies    = "must be true or false"
	problemMode                = "must be predictive (serve the guarded forecast), shadow (serve the current load, publish what the forecast would have served) or reactive (serve the current load)"
	problemActivationThreshold = "must be a number of 0 or more: the scaler is active while the served load is above it (e.g. 0)"
	problemMaxStaleness        = "must be a positive duration, how long the last values may be served while the datasource is unreachable (e.g. 10m)"
)

// ParsePolicy decodes and validates a trigger's metadata, as KEDA sends it
// in ScaledObjectRef.scalerMetadata.
//
// Keys are camelCase as in a ScaledObject: query and targetPerReplica are
// required; datasource, leadTime, quantile, history, step, season,
// peakCapFactor and maxStaleness default to the Default… constants of this
// package; minReplicas, maxReplicas and activationThreshold to 0; mode to
// predictive. Durations take Go's units and d and w (7d, 1w, 1d12h).
// Values are trimmed, and an empty value counts as absent. Each key may
// also be given as KEY + "FromEnv" (KEDA resolves it from the workload's
// environment), but not both ways at once. KEDA's own keys (scalerAddress,
// enableTLS, unsafeSsl, and tlsCertFile of older versions) are ignored;
// caCert, tlsClientCert and tlsClientKey are refused with a pointer to
// TriggerAuthentication, where KEDA reads them; any other key is an error
// that suggests the key meant when one is close (equal but for case, or
// at most two edits away).
//
// Besides each field's range (see Policy), ParsePolicy checks that the
// history holds between 100 and 100,000 steps, that the lead time is
// shorter than the history and at most 1,440 steps, that maxReplicas is 0
// or at least minReplicas, and that seasonal periods are whole numbers of
// at least two steps, of which the history holds at least two cycles.
// Exclusion windows are sorted, merged where they overlap or touch, and
// kept in UTC.
//
// The error reports every problem at once, one *MetadataError per key,
// sorted by key and joined by errors.Join; each wraps ErrInvalidMetadata.
// With an error, the Policy is the zero value.
func ParsePolicy(metadata map[string]string) (Policy, error) {
	d := decoder{given: map[string]given{}, conflict: map[string]bool{}, errs: map[string]*MetadataError{}, bad: map[string]bool{}}
	d.collect(metadata)
	p := Policy{
		Datasource:    DefaultDatasource,
		LeadTime:      DefaultLeadTime,
		Quantile:      DefaultQuantile,
		History:       DefaultHistory,
		Step:          DefaultStep,
		Season:        forecast.SeasonSetting{Auto: true},
		PeakCapFactor: DefaultPeakCapFactor,
		Mode:          ModePredictive,
		MaxStaleness:  DefaultMaxStaleness,
	}
	d.fields(&p)
	d.crossChecks(&p)
	if len(d.errs) > 0 {
		errs := make([]*MetadataError, 0, len(d.errs))
		for _, e := range d.errs {
			errs = append(errs, e)
		}
		slices.SortFunc(errs, func(a, b *MetadataError) int { return cmp.Compare(a.Key, b.Key) })
		joined := make([]error, len(errs))
		for i, e := range errs {
			joined[i] = e
		}
		return Policy{}, errors.Join(joined...)
	}
	p.modelKey = p.computeModelKey() // requests ask for it on every call
	return p, nil
}

// given is a value of a known key, under the key as written.
type given struct {
	key, value string
}

// decoder collects the problems of one trigger's metadata.
type decoder struct {
	// given holds the non-empty values of the known keys, by their
	// canonical name; conflict the keys given both plainly and FromEnv.
	given    map[string]given
	conflict map[string]bool
	// errs holds one error per key as written; bad the canonical names of
	// the keys whose own value is invalid, which cross-checks skip.
	errs map[string]*MetadataError
	bad  map[string]bool
}

// collect sorts the metadata's keys into known, KEDA's and unknown ones.
func (d *decoder) collect(metadata map[string]string) {
	for k, v := range metadata {
		v = strings.TrimSpace(v)
		base, _ := strings.CutSuffix(k, fromEnv)
		switch {
		case slices.Contains(kedaKeys, base):
			continue
		case slices.Contains(policyKeys, base):
			if v == "" {
				continue // KEDA drops unset FromEnv keys; "" is unset too
			}
			if _, dup := d.given[base]; dup || d.conflict[base] {
				delete(d.given, base)
				d.conflict[base] = true
				d.add(base, "", "given both as "+base+" and as "+base+fromEnv+": keep one")
				continue
			}
			d.given[base] = given{key: k, value: v}
		case slices.Contains(authParamKeys, base):
			d.add(k, "", "KEDA reads "+base+" from a TriggerAuthentication, not from the trigger's metadata: move it there")
		default:
			d.add(k, "", unknownKeyProblem(k))
		}
	}
}

// unknownKeyProblem says that k is unknown, and suggests the key meant.
func unknownKeyProblem(k string) string {
	if s := suggestKey(k); s != "" {
		return "unknown key; did you mean " + s + "?"
	}
	return "unknown key; the keys Foresight reads are " + strings.Join(policyKeys, ", ") + " (each also as KEYFromEnv)"
}

// suggestKey returns the known key closest to k: equal but for case, or at
// most two edits away; "" if none is.
func suggestKey(k string) string {
	lk := strings.ToLower(k)
	const maxEdits = 2
	best, bestDist := "", maxEdits+1
	for _, known := range slices.Concat(policyKeys, kedaKeys) {
		for _, cand := range []string{known, known + fromEnv} {
			lc := strings.ToLower(cand)
			if abs(len(lc)-len(lk)) > maxEdits {
				continue
			}
			if dist := editdist.Levenshtein(lk, lc); dist < bestDist {
				best, bestDist = cand, dist
			}
		}
	}
	return best
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// add records a problem of the key as written, joining it to any other
// problem of the same key.
func (d *decoder) add(key, value, problem string) {
	if e, ok := d.errs[key]; ok {
		e.Problem += "; " + problem
		return
	}
	d.errs[key] = &MetadataError{Key: key, Value: value, Problem: problem}
}

// get returns the value of a known key, if one was given.
func (d *decoder) get(name string) (given, bool) {
	g, ok := d.given[name]
	return g, ok
}

// fail records that the value of a known key is invalid.
func (d *decoder) fail(name string, g given, problem string) {
	d.bad[name] = true
	d.add(g.key, g.value, problem)
}

// usable reports whether the named fields hold valid values, given or
// default, so that a check across them means something.
func (d *decoder) usable(names ...string) bool {
	for _, n := range names {
		if d.bad[n] || d.conflict[n] {
			return false
		}
	}
	return true
}

// failAny records a problem across fields under the first of them that
// was given: the one the operator wrote and will look for.
func (d *decoder) failAny(problem string, names ...string) {
	for _, n := range names {
		if g, ok := d.get(n); ok {
			d.add(g.key, g.value, problem)
			return
		}
	}
	d.add(names[0], "", problem) // all defaults: unreachable while the defaults are valid
}

// fields decodes each field on its own.
func (d *decoder) fields(p *Policy) {
	if g, ok := d.get(keyQuery); ok {
		p.Query = g.value
	} else if !d.conflict[keyQuery] {
		d.add(keyQuery, "", problemQuery)
	}
	if g, ok := d.get(keyDatasource); ok {
		switch {
		case strings.ContainsAny(g.value, ":/"): // a URL, or host:port
			d.fail(keyDatasource, g, problemDatasourceURL)
		case !validDatasourceName(g.value):
			d.fail(keyDatasource, g, problemDatasourceName)
		default:
			p.Datasource = g.value
		}
	}
	if _, ok := d.get(keyTargetPerReplica); ok {
		d.float(keyTargetPerReplica, &p.TargetPerReplica, func(v float64) bool { return v > 0 }, problemTargetPerReplica)
	} else if !d.conflict[keyTargetPerReplica] {
		d.add(keyTargetPerReplica, "", "required: a positive number, the load one replica serves (e.g. 50)")
	}
	d.duration(keyLeadTime, &p.LeadTime, func(v time.Duration) bool { return v > 0 }, problemLeadTime)
	d.float(keyQuantile, &p.Quantile, func(v float64) bool { return v >= 0.5 && v < 1 }, problemQuantile)
	d.duration(keyHistory, &p.History, func(v time.Duration) bool { return v > 0 }, problemHistory)
	d.duration(keyStep, &p.Step, func(v time.Duration) bool { return v >= minStep }, problemStep)
	if g, ok := d.get(keySeason); ok {
		s, err := forecast.ParseSeason(g.value)
		if err != nil {
			d.fail(keySeason, g, problemSeason)
		} else {
			p.Season = s
		}
	}
	d.float(keyPeakCapFactor, &p.PeakCapFactor, func(v float64) bool { return v >= 1 }, problemPeakCapFactor)
	d.replicas(keyMinReplicas, &p.MinReplicas, problemMinReplicas)
	d.replicas(keyMaxReplicas, &p.MaxReplicas, problemMaxReplicas)
	if g, ok := d.get(keyExcludeWindows); ok {
		d.windows(g, p)
	}
	if g, ok := d.get(keyExcludeQuery); ok {
		p.ExcludeQuery = g.value
	}
	if g, ok := d.get(keyExcludeAnomalies); ok {
		b, err := strconv.ParseBool(g.value)
		if err != nil {
			d.fail(keyExcludeAnomalies, g, problemExcludeAnomalies)
		} else {
			p.ExcludeAnomalies = b
		}
	}
	if g, ok := d.get(keyMode); ok {
		switch m := Mode(strings.ToLower(g.value)); m {
		case ModePredictive, ModeShadow, ModeReactive:
			p.Mode = m
		default:
			d.fail(keyMode, g, problemMode)
		}
	}
	d.float(keyActivationThreshold, &p.ActivationThreshold, func(v float64) bool { return v >= 0 }, problemActivationThreshold)
	d.duration(keyMaxStaleness, &p.MaxStaleness, func(v time.Duration) bool { return v > 0 }, problemMaxStaleness)
}

// validDatasourceName reports whether s is a datasource name: letters,
// digits, '.', '_' and '-'.
func validDatasourceName(s string) bool {
	if s == "" || len(s) > maxDatasourceName {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// float decodes the named key (if given) into *dst: a finite number that
// valid accepts.
func (d *decoder) float(name string, dst *float64, valid func(float64) bool, problem string) {
	g, ok := d.get(name)
	if !ok {
		return
	}
	v, err := strconv.ParseFloat(g.value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || !valid(v) {
		d.fail(name, g, problem)
		return
	}
	*dst = v
}

// duration decodes the named key (if given) into *dst: a duration that
// valid accepts.
func (d *decoder) duration(name string, dst *time.Duration, valid func(time.Duration) bool, problem string) {
	g, ok := d.get(name)
	if !ok {
		return
	}
	v, err := forecast.ParseDuration(g.value)
	if err != nil || !valid(v) {
		d.fail(name, g, problem)
		return
	}
	*dst = v
}

// replicas decodes the named key (if given) into *dst: a whole number of
// replicas, 0 for no bound.
func (d *decoder) replicas(name string, dst *int, problem string) {
	g, ok := d.get(name)
	if !ok {
		return
	}
	v, err := strconv.Atoi(g.value)
	if err != nil || v < 0 || v > maxReplicaBound {
		d.fail(name, g, problem)
		return
	}
	*dst = v
}

// windows decodes the exclusion windows of g into p, sorted, merged where
// they overlap or touch, in UTC.
func (d *decoder) windows(g given, p *Policy) {
	parts := strings.FieldsFunc(g.value, func(r rune) bool { return r == ',' || r == ';' })
	var ws []forecast.Window
	var problems []string
	for _, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		w, err := forecast.ParseWindow(part)
		if err != nil {
			// Only the message is used: ParseWindow's errors name the
			// window and what is wrong with it.
			problems = append(problems, strings.TrimPrefix(err.Error(), forecast.ErrBadSetting.Error()+": "))
			continue
		}
		ws = append(ws, forecast.Window{Start: w.Start.UTC(), End: w.End.UTC()})
	}
	switch {
	case len(problems) > 0:
		d.fail(keyExcludeWindows, g, problemExcludeWindows+": "+strings.Join(problems, "; "))
		return
	case len(ws) > maxExcludeWindows:
		d.fail(keyExcludeWindows, g, fmt.Sprintf("%d windows: at most %d; use excludeQuery for recurring outages", len(ws), maxExcludeWindows))
		return
	}
	slices.SortFunc(ws, func(a, b forecast.Window) int {
		return cmp.Or(a.Start.Compare(b.Start), a.End.Compare(b.End))
	})
	var merged []forecast.Window
	for _, w := range ws {
		if k := len(merged); k > 0 && !w.Start.After(merged[k-1].End) {
			if w.End.After(merged[k-1].End) {
				merged[k-1].End = w.End
			}
			continue
		}
		merged = append(merged, w)
	}
	p.ExcludeWindows = merged
}

// crossChecks checks the fields that constrain one another, where each
// holds a valid value.
func (d *decoder) crossChecks(p *Policy) {
	fd := forecast.FormatDuration
	if d.usable(keyHistory, keyStep) {
		n := p.History / p.Step
		switch {
		case n < minHistorySteps:
			d.failAny(fmt.Sprintf("history %s at step %s is %d points: at least %d are needed (%s)",
				fd(p.History), fd(p.Step), n, minHistorySteps, hint(minHistorySteps, p.Step, "history", "or more", "a shorter step")), keyHistory, keyStep)
			d.bad[keyHistory] = true
		case n > maxHistorySteps:
			d.failAny(fmt.Sprintf("history %s at step %s is %d points: at most %d are read and fitted (%s)",
				fd(p.History), fd(p.Step), n, maxHistorySteps, hint(maxHistorySteps, p.Step, "history", "or less", "a longer step")), keyHistory, keyStep)
			d.bad[keyHistory] = true
		}
	}
	if d.usable(keyLeadTime, keyHistory) && p.LeadTime >= p.History {
		d.failAny(fmt.Sprintf("the lead time %s must be shorter than the history %s", fd(p.LeadTime), fd(p.History)), keyLeadTime, keyHistory)
	}
	if d.usable(keyLeadTime, keyStep) && p.LeadTime/p.Step > maxLeadSteps {
		d.failAny(fmt.Sprintf("the lead time %s is %d steps of %s: at most %d steps ahead are forecast (%s)",
			fd(p.LeadTime), p.LeadTime/p.Step, fd(p.Step), maxLeadSteps, hint(maxLeadSteps, p.Step, "lead time", "or less", "a longer step")), keyLeadTime, keyStep)
	}
	if d.usable(keyMinReplicas, keyMaxReplicas) && p.MaxReplicas != 0 && p.MaxReplicas < p.MinReplicas {
		d.failAny(fmt.Sprintf("must be 0 (no bound) or at least minReplicas (%d)", p.MinReplicas), keyMaxReplicas, keyMinReplicas)
	}
	if len(p.Season.Periods) > 0 && d.usable(keySeason, keyStep) {
		if _, err := p.Season.Steps(p.Step); err != nil {
			d.failAny(strings.TrimPrefix(err.Error(), forecast.ErrBadSetting.Error()+": "), keySeason, keyStep)
			return
		}
		if p.Season.Periods[0]/p.Step < 2 {
			d.failAny(fmt.Sprintf("the season period %s is less than two steps of %s", fd(p.Season.Periods[0]), fd(p.Step)), keySeason, keyStep)
			return
		}
		// Halve the history rather than double the period, which may
		// overflow.
		if longest := p.Season.Periods[len(p.Season.Periods)-1]; d.usable(keyHistory) && longest > p.History/2 {
			d.failAny(fmt.Sprintf("the history %s holds fewer than two cycles of the season period %s, which the model needs (%s)",
				fd(p.History), fd(longest), hint(2, longest, "history", "or more", "a shorter period")), keySeason, keyHistory)
		}
	}
}

// hint suggests a fix: "NAME n×d MORE, or ALT" ("history 1h40m0s or
// more, or a shorter step"), or ALT alone where n×d overflows.
func hint(n int64, d time.Duration, name, more, alt string) string {
	if d > math.MaxInt64/time.Duration(n) {
		return alt
	}
	return name + " " + forecast.FormatDuration(time.Duration(n)*d) + " " + more + ", or " + alt
}

// ModelKey identifies the fitted model p asks for: policies with the same
// key share one model. It is a hash of what changes the fit: the query and
// datasource, the history and step, the season setting, the exclusions
// (windows, excludeQuery, excludeAnomalies), and the lead time in whole
// steps, because the model is chosen by, and its band estimated for, its
// error over that horizon. The quantile is not in it (a fitted model
// gives every quantile), nor what acts on the forecast afterwards:
// targetPerReplica, peakCapFactor, the replica bounds, mode,
// activationThreshold and maxStaleness. The query is compared as written
// (after trimming): two spellings of one PromQL expression get two models.
// The key is the same in every process, so replicas of the server agree.
func (p Policy) ModelKey() string {
	if p.modelKey != "" {
		return p.modelKey
	}
	return p.computeModelKey()
}

func (p Policy) computeModelKey() string {
	var b strings.Builder
	b.WriteString("foresight.model.v1")
	field := func(name, value string) {
		b.WriteString("\n" + name + "=" + value)
	}
	field(keyQuery, strconv.Quote(p.Query))
	field(keyDatasource, strconv.Quote(p.Datasource))
	field(keyHistory, strconv.FormatInt(int64(p.History), 10))
	field(keyStep, strconv.FormatInt(int64(p.Step), 10))
	field(keySeason, seasonString(p.Season))
	var ws []string
	for _, w := range p.ExcludeWindows {
		ws = append(ws, w.Start.UTC().Format(time.RFC3339Nano)+"/"+w.End.UTC().Format(time.RFC3339Nano))
	}
	field(keyExcludeWindows, strings.Join(ws, ","))
	field(keyExcludeQuery, strconv.Quote(p.ExcludeQuery))
	field(keyExcludeAnomalies, strconv.FormatBool(p.ExcludeAnomalies))
	var leadSteps time.Duration
	if p.Step > 0 {
		leadSteps = p.LeadTime / p.Step
	}
	field("leadSteps", strconv.FormatInt(int64(leadSteps), 10))
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:16])
}

// String writes p as the metadata keys it is equivalent to, defaults
// included, for logs.
func (p Policy) String() string {
	md := p.metadata()
	var b strings.Builder
	for _, k := range policyKeys {
		v, ok := md[k]
		if !ok {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if v == "" || strings.ContainsAny(v, " \t\n\"=\\") || k == keyQuery || k == keyExcludeQuery {
			v = strconv.Quote(v)
		}
		b.WriteString(k + "=" + v)
	}
	return b.String()
}

// metadata returns the metadata that ParsePolicy decodes into p, every key
// written out except empty ones.
func (p Policy) metadata() map[string]string {
	fd := forecast.FormatDuration
	ff := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	md := map[string]string{
		keyQuery:               p.Query,
		keyDatasource:          p.Datasource,
		keyTargetPerReplica:    ff(p.TargetPerReplica),
		keyLeadTime:            fd(p.LeadTime),
		keyQuantile:            ff(p.Quantile),
		keyHistory:             fd(p.History),
		keyStep:                fd(p.Step),
		keySeason:              seasonString(p.Season),
		keyPeakCapFactor:       ff(p.PeakCapFactor),
		keyMinReplicas:         strconv.Itoa(p.MinReplicas),
		keyMaxReplicas:         strconv.Itoa(p.MaxReplicas),
		keyExcludeQuery:        p.ExcludeQuery,
		keyExcludeAnomalies:    strconv.FormatBool(p.ExcludeAnomalies),
		keyMode:                string(p.Mode),
		keyActivationThreshold: ff(p.ActivationThreshold),
		keyMaxStaleness:        fd(p.MaxStaleness),
	}
	var ws []string
	for _, w := range p.ExcludeWindows {
		ws = append(ws, w.Start.UTC().Format(time.RFC3339Nano)+"/"+w.End.UTC().Format(time.RFC3339Nano))
	}
	md[keyExcludeWindows] = strings.Join(ws, ",")
	for k, v := range md {
		if v == "" {
			delete(md, k)
		}
	}
	return md
}

// seasonString writes s as ParseSeason reads it.
func seasonString(s forecast.SeasonSetting) string {
	switch {
	case s.None:
		return "none"
	case len(s.Periods) == 0:
		return "auto"
	}
	ps := make([]string, len(s.Periods))
	for i, d := range s.Periods {
		ps[i] = forecast.FormatDuration(d)
	}
	return strings.Join(ps, ",")
}
