package config

import (
	"strings"
	"testing"
)

func TestSupportWebhookSettings(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	c, err := Load(env(map[string]string{"SUPPORT_WEBHOOK_URL": "https://helpdesk.example.ru/kabinet", "SUPPORT_WEBHOOK_SECRET": secret}), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.SupportWebhookURL != "https://helpdesk.example.ru/kabinet" || string(c.SupportWebhookSecret) != secret {
		t.Errorf("read %q %q", c.SupportWebhookURL, c.SupportWebhookSecret)
	}
	if c, err := Load(env(nil), true); err != nil || c.SupportWebhookURL != "" || c.SupportWebhookSecret != nil {
		t.Errorf("without the URL: %q %q %v", c.SupportWebhookURL, c.SupportWebhookSecret, err)
	}

	for _, tc := range []struct {
		env  map[string]string
		want []string // the problems, in order
		text string
	}{
		{map[string]string{"SUPPORT_WEBHOOK_URL": "ftp://helpdesk"}, []string{"SUPPORT_WEBHOOK_URL", "SUPPORT_WEBHOOK_SECRET"}, "SUPPORT_WEBHOOK_SECRET is required with SUPPORT_WEBHOOK_URL"},
		{map[string]string{"SUPPORT_WEBHOOK_URL": "https://h.example", "SUPPORT_WEBHOOK_SECRET": "short-secret"}, []string{"SUPPORT_WEBHOOK_SECRET"}, "it has only 12"},
		{map[string]string{"SUPPORT_WEBHOOK_URL": "https://h.example", "SUPPORT_WEBHOOK_SECRET": codeSecret}, []string{"SUPPORT_WEBHOOK_SECRET"}, "must differ from CODE_SECRET"},
		{map[string]string{"SUPPORT_WEBHOOK_URL": "https://h.example", "SUPPORT_WEBHOOK_SECRET": linkSecret}, []string{"SUPPORT_WEBHOOK_SECRET"}, "must differ"},
	} {
		_, err := Load(env(tc.env), true)
		if err == nil {
			t.Errorf("%v accepted", tc.env)
			continue
		}
		var got []string
		for _, p := range problemsOf(t, err) {
			got = append(got, p.Variable)
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%v: %v\nwant problems with %v saying %q", tc.env, err, tc.want, tc.text)
		}
		if s := tc.env["SUPPORT_WEBHOOK_SECRET"]; s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}
