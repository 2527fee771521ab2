// Package metricstest reads metrics in tests: from a registry, or from the
// text a /metrics endpoint served, with the same lookups for both.
package metricstest

import (
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are metric families by name.
type Families map[string]*dto.MetricFamily

// Gather reads everything g has now.
func Gather(t testing.TB, g prometheus.Gatherer) Families {
	t.Helper()
	list, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := Families{}
	for _, f := range list {
		out[f.GetName()] = f
	}
	return out
}

// Parse reads Prometheus's text format, as GET /metrics serves it.
func Parse(t testing.TB, r io.Reader) Families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// Has reports whether the family name has a series with (at least) labels.
func (f Families) Has(name string, labels map[string]string) bool {
	return len(f.series(name, labels)) > 0
}

// Value is the sum over the series of name that carry labels (the others
// of their labels may be anything): a counter's or a gauge's value, a
// histogram's count of observations. 0 when there is none.
func (f Families) Value(name string, labels map[string]string) float64 {
	var v float64
	for _, m := range f.series(name, labels) {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		}
	}
	return v
}

// Sum is the sum of the observations of a histogram's series that carry
// labels.
func (f Families) Sum(name string, labels map[string]string) float64 {
	var v float64
	for _, m := range f.series(name, labels) {
		if m.Histogram != nil {
			v += m.Histogram.GetSampleSum()
		}
	}
	return v
}

// LabelValues lists the values label takes in the series of name.
func (f Families) LabelValues(name, label string) []string {
	var out []string
	for _, m := range f.series(name, nil) {
		for _, l := range m.Label {
			if l.GetName() == label {
				out = append(out, l.GetValue())
			}
		}
	}
	return out
}

func (f Families) series(name string, labels map[string]string) []*dto.Metric {
	fam, ok := f[name]
	if !ok {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}
