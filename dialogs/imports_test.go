package dialogs_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The dialogs stay free of Telegram, SQL and Redis, directly or through
// another package: that is what keeps every conversation a table test and
// lets a provider swap the adapters.
func TestDialogsImportNoTransportOrStorage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/go-telegram/", "github.com/jackc/", "github.com/redis/", "database/sql"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("dialogs depends on %s", dep)
			}
		}
	}
}
