package platform

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// Observability carries the shared monitoring assets of infra/observability
// (alert rules and the Grafana dashboard), so the cluster alerts and draws
// exactly what the compose stack does.
type Observability struct {
	// AlertRules is a Prometheus rules file (a `groups:` document).
	AlertRules []byte
	// Dashboards are Grafana dashboard JSON documents by file name.
	Dashboards map[string]string
}

// Option adjusts what Deploy creates.
type Option func(*options)

type options struct {
	observability Observability
	// release is the digest being rolled out (WithRelease).
	release string
	// now is the clock a restore's time window is checked against.
	now func() time.Time
}

func newOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock sets the clock a database restore's time window is checked
// against (tests; the program uses the real time).
func WithClock(now func() time.Time) Option {
	return func(opts *options) { opts.now = now }
}

// WithObservability installs the shared alert rules and dashboards when the
// stack enables monitoring.
func WithObservability(o Observability) Option {
	return func(opts *options) { opts.observability = o }
}

// RuleGroups parses a Prometheus rules file into the `groups` list a
// PrometheusRule's spec takes as is.
func RuleGroups(rulesFile []byte) ([]any, error) {
	if len(rulesFile) == 0 {
		return nil, nil
	}
	var doc struct {
		Groups []any `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rulesFile, &doc); err != nil {
		return nil, fmt.Errorf("platform: alert rules: %w", err)
	}
	if len(doc.Groups) == 0 {
		return nil, fmt.Errorf("platform: alert rules: no groups")
	}
	return doc.Groups, nil
}
