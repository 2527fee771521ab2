package dialogs_test

import (
	"strings"
	"testing"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// FuzzFreeText types anything at every step that takes text: the bot always
// answers, never sends a code for input that is not an account number, and
// ends in a known step.
func FuzzFreeText(f *testing.F) {
	for _, s := range []string{"1000000001", "1' OR '1'='1", "١٢٣٤٥٦", "123 456", "отмена", "<b>", "", strings.Repeat("9", 30)} {
		f.Add(s)
	}
	steps := []dialogs.Step{dialogs.StepIdle, dialogs.StepLinkNumber, dialogs.StepLinkCode, dialogs.StepLinkPick, dialogs.StepUnlinkConfirm}
	f.Fuzz(func(t *testing.T, text string) {
		for _, step := range steps {
			h := newHarness(t, "ru")
			h.codes.sent = []sentCode{{user: user, account: 1, phone: "+79000000001"}}
			h.st = dialogs.State{Step: step, Account: 1, Number: "1000000001", Masked: "+7 *** ***-**-01", Candidates: []string{"1000000001"}}
			res := h.text(text)
			if len(res.Replies) == 0 {
				t.Fatalf("step %q, text %q: no answer", step, text)
			}
			for _, r := range res.Replies {
				if strings.Contains(r.Text, "<script") || (text != "" && strings.Contains(text, "<") && strings.Contains(r.Text, text)) {
					t.Fatalf("unescaped input in a reply: %q", r.Text)
				}
			}
			for _, c := range h.codes.sent[1:] {
				if c.phone != "" && c.account != 1 {
					t.Fatalf("text %q sent a code to account %d", text, c.account)
				}
			}
			switch h.st.Step {
			case dialogs.StepIdle, dialogs.StepLinkNumber, dialogs.StepLinkCode, dialogs.StepLinkPick, dialogs.StepUnlinkConfirm:
			default:
				if !strings.HasPrefix(string(h.st.Step), "pay") && !strings.HasPrefix(string(h.st.Step), "offices") && !strings.HasPrefix(string(h.st.Step), "trust") {
					t.Fatalf("unknown step %q", h.st.Step)
				}
			}
		}
	})
}
