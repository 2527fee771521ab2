package main

import (
	"testing"

	"github.com/kabinet-bot/kabinet/config"
	"github.com/kabinet-bot/kabinet/dialogs"
)

func TestOfficesConfigFromEnvironment(t *testing.T) {
	cfg := config.Config{OfficesNearest: "offices", OfficesPageSize: 7, OfficesLinks: map[string]string{"vk": "none", "director": "https://example.ru/d"}}
	oc := officesConfig(cfg)
	if oc.Nearest != dialogs.NearestOffices || oc.PageSize != 7 {
		t.Errorf("nearest %q, page size %d", oc.Nearest, oc.PageSize)
	}
	if oc.Links.VK != "" || oc.Links.Director != "https://example.ru/d" || oc.Links.WhatsApp != dialogs.DefaultOfficesConfig().Links.WhatsApp {
		t.Errorf("links %+v", oc.Links)
	}
}
