package config

import "testing"

// PPROF_ADDR is off unless set, and a value that is no host:port stops the
// start instead of leaving the profiles silently off.
func TestPprofAddr(t *testing.T) {
	c, err := Load(env(nil), true)
	if err != nil {
		t.Fatal(err)
	}
	if c.PprofAddr != "" {
		t.Errorf("PPROF_ADDR is on by default: %q", c.PprofAddr)
	}
	for _, ok := range []string{"localhost:6060", "127.0.0.1:0", ":6060"} {
		c, err := Load(env(map[string]string{"PPROF_ADDR": ok}), true)
		if err != nil || c.PprofAddr != ok {
			t.Errorf("PPROF_ADDR=%s: %v, %q", ok, err, c.PprofAddr)
		}
	}
	for _, bad := range []string{"6060", "localhost", "localhost:"} {
		_, err := Load(env(map[string]string{"PPROF_ADDR": bad}), true)
		if err == nil {
			t.Errorf("PPROF_ADDR=%s accepted", bad)
			continue
		}
		if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Variable != "PPROF_ADDR" {
			t.Errorf("PPROF_ADDR=%s: %v", bad, err)
		}
	}
}
