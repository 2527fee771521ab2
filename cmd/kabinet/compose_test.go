package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestComposePassesEverySetting: every variable of the README's
// configuration table reaches the bot in docker-compose.yml, so that
// `docker compose --profile bot up` can be configured like `serve`.
func TestComposePassesEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "## Configuration")
	if start < 0 {
		t.Fatal("README has no Configuration section")
	}
	section = section[start:]
	if end := strings.Index(section[3:], "\n## "); end > 0 {
		section = section[:end+3]
	}
	name := regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")
	var vars []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			vars = append(vars, m[1])
		}
	}
	if len(vars) < 30 {
		t.Fatalf("found only %d variables in the README's table: %v", len(vars), vars)
	}
	for _, v := range vars {
		if !strings.Contains(string(compose), "\n      "+v+":") {
			t.Errorf("%s is in the README's configuration table but not passed by docker-compose.yml", v)
		}
	}
}
