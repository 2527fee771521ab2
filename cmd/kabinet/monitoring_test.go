package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeMetrics lists the metric names the README's Metrics section
// documents.
func readmeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## Metrics\n")
	if start < 0 {
		t.Fatal("README has no Metrics section")
	}
	section = section[start+1:]
	if end := strings.Index(section[3:], "\n## "); end > 0 {
		section = section[:end+3]
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("`(kabinet_[a-z_]+)`").FindAllStringSubmatch(section, -1) {
		names[m[1]] = true
	}
	if len(names) < 20 {
		t.Fatalf("only %d metrics in the README's Metrics section", len(names))
	}
	return names
}

// TestDashboardQueriesDocumentedMetrics: every metric the Grafana dashboard
// queries is one the README documents (and TestMetricsCountWhatASubscriberDid
// checks that the README's are the ones served), and the dashboard reaches
// Prometheus through the data source Grafana provisions; compose mounts
// both and Prometheus scrapes the bot's and the sandbox's /metrics.
func TestDashboardQueriesDocumentedMetrics(t *testing.T) {
	documented := readmeMetrics(t)
	raw, err := os.ReadFile("../../monitoring/grafana/dashboards/kabinet.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title      string `json:"title"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	datasources, err := os.ReadFile("../../monitoring/grafana/provisioning/datasources/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	queried := map[string]bool{}
	name := regexp.MustCompile(`kabinet_[a-z_]+`)
	for _, p := range dash.Panels {
		if p.Datasource.UID == "" || !strings.Contains(string(datasources), "uid: "+p.Datasource.UID+"\n") {
			t.Errorf("panel %q uses data source %q, which Grafana does not provision", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, target := range p.Targets {
			for _, n := range name.FindAllString(target.Expr, -1) {
				base := n
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suffix); ok && documented[b] {
						base = b
					}
				}
				if !documented[base] {
					t.Errorf("panel %q queries %s, which the README's Metrics section does not list", p.Title, n)
				}
				queried[base] = true
			}
		}
	}
	for _, must := range []string{"kabinet_updates_total", "kabinet_update_duration_seconds", "kabinet_telegram_requests_total",
		"kabinet_telegram_retry_after_seconds", "kabinet_outbox_pending_chats", "kabinet_outbox_parked_chats"} {
		if !queried[must] {
			t.Errorf("the dashboard does not show %s", must)
		}
	}

	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, mount := range []string{
		"./monitoring/prometheus.yml:/etc/prometheus/prometheus.yml",
		"./monitoring/grafana/provisioning:/etc/grafana/provisioning",
		"./monitoring/grafana/dashboards:/var/lib/grafana/dashboards",
	} {
		if !strings.Contains(string(compose), mount) {
			t.Errorf("docker-compose.yml does not mount %s", mount)
		}
	}
	providers, err := os.ReadFile("../../monitoring/grafana/provisioning/dashboards/kabinet.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(providers), "path: /var/lib/grafana/dashboards\n") {
		t.Error("the dashboard provider does not read the mounted dashboards")
	}
	prom, err := os.ReadFile("../../monitoring/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{`"kabinet:8081"`, `"sandbox:8081"`, "metrics_path: /metrics"} {
		if !strings.Contains(string(prom), target) {
			t.Errorf("Prometheus does not scrape %s", target)
		}
	}
}
