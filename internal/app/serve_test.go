package app

import (
	"strings"
	"testing"
	"time"

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

func TestHotlineFromEnvironment(t *testing.T) {
	msk, _ := time.LoadLocation("Europe/Moscow")
	def := officesConfig(config.Config{TimeZone: msk})
	if def.Hotline.Phone != "+7 (8652) 333-333" || len(def.Hotline.Hours) != 2 || def.Hotline.Zone != "msk" {
		t.Errorf("default hotline %+v, want the seed's with Moscow hours", def.Hotline)
	}
	c, err := config.Load(func(k string) string {
		return map[string]string{"OFFICES_HOTLINE": "8 800 700-60-59", "OFFICES_HOTLINE_HOURS": "24h;24h;24h;24h;24h;10:00-16:00;closed", "TIME_ZONE": "Asia/Tomsk"}[k]
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	oc := officesConfig(c)
	if oc.Hotline.Phone != "8 800 700-60-59" || len(oc.Hotline.Hours) != 3 || oc.Hotline.Hours[2].Spans != nil || oc.Hotline.Zone != "" {
		t.Errorf("hotline %+v", oc.Hotline)
	}
	if none := officesConfig(config.Config{OfficesHotline: "none", TimeZone: msk}); none.Hotline.Phone != "" {
		t.Errorf("OFFICES_HOTLINE=none still shows %q", none.Hotline.Phone)
	}
	for _, bad := range []map[string]string{{"OFFICES_HOTLINE": "call us"}, {"OFFICES_HOTLINE_HOURS": "09:00-21:00"}, {"OFFICES_HOTLINE_HOURS": "9-21;;;;;;"}} {
		_, err := config.Load(func(k string) string { return bad[k] }, false)
		if err == nil || !strings.Contains(err.Error(), "OFFICES_HOTLINE") {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
