package dialogs_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kabinet-bot/kabinet/dialogs"
)

// A turn runs under its conversation's lock, which must never wait for an
// SMS gateway or a payment provider: those calls are effects, run after the
// turn by the sender (here runEffects), and their replies take their place.

// effects returns the verbs of the effects a turn asked for.
func effects(res dialogs.Result) []string {
	var verbs []string
	for _, r := range res.Replies {
		if r.Effect != nil {
			verbs = append(verbs, r.Effect.Verb)
		}
	}
	return verbs
}

func TestTheCodeSMSIsSentAfterTheTurnNotInIt(t *testing.T) {
	h := newHarness(t, "ru")
	h.cmd("start")
	res, err := h.eng.Handle(context.Background(), h.st, dialogs.Event{Key: "u5", UserID: user, ChatID: user, LanguageCode: "ru", Kind: dialogs.KindText, Text: "1000000001"})
	if err != nil {
		t.Fatal(err)
	}
	if got := effects(res); fmt.Sprint(got) != "[code]" {
		t.Fatalf("effects %v, want [code]", got)
	}
	if len(h.codes.sent) != 1 || len(h.codes.delivered) != 0 {
		t.Fatalf("in the turn: %d codes issued, %d SMS delivered; want 1 and 0", len(h.codes.sent), len(h.codes.delivered))
	}
	if res.State.Step != dialogs.StepLinkCode {
		t.Fatalf("step %q, want the code step decided in the turn", res.State.Step)
	}
	ef := res.Replies[len(res.Replies)-1].Effect
	if ef.Key != "u5" || ef.UserID != user || ef.Lang != "ru" {
		t.Fatalf("effect %+v does not carry the asking event", ef)
	}
	replies := runEffects(t, h.eng, res.Replies)
	if h.codes.delivered["u5"] != "+79000000001" {
		t.Fatalf("delivered %v, want the SMS of key u5 to the contract phone", h.codes.delivered)
	}
	mustContain(t, dialogs.Result{Replies: replies}, "Код отправлен по СМС на номер +7 *** ***-**-01")
}

func TestACodeTheGatewayRefusesIsSaidWithAWayToAskAgain(t *testing.T) {
	h := newHarness(t, "en")
	h.codes.failDeliver = true
	h.cmd("start")
	res := h.text("1000000001")
	mustContain(t, res, "could not be sent", "[🔁 Send the code again|resend]")
	if h.st.Step != dialogs.StepLinkCode {
		t.Fatalf("step %q, want the code step kept for Send again", h.st.Step)
	}
	h.codes.failDeliver = false
	mustContain(t, h.press("resend"), "The code was sent by SMS to +7 *** ***-**-01")
}

func TestThePaymentLinkIsCreatedAfterTheTurnNotInIt(t *testing.T) {
	h, fake := newYooHarness(t)
	ev := dialogs.Event{Key: "u70", UserID: user, ChatID: user, LanguageCode: "ru", Kind: dialogs.KindCallback, Data: fmt.Sprintf("pa:%d:50000", h.acc), MessageID: 42}
	res, err := h.eng.Handle(context.Background(), dialogs.State{}, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := effects(res); fmt.Sprint(got) != "[paylink]" || fake.Count() != 0 {
		t.Fatalf("effects %v and %d payments at YooKassa in the turn; want [paylink] and 0", got, fake.Count())
	}
	u := urlButton(dialogs.Result{Replies: runEffects(t, h.eng, res.Replies)})
	if fake.Count() != 1 || u != fake.Payments()[0].Confirmation.ConfirmationURL {
		t.Fatalf("after the effect: %d payments, link %q", fake.Count(), u)
	}
}

func TestLinkingSendsTheNoticeAfterTheAnswer(t *testing.T) {
	h := newHarness(t, "ru")
	h.cmd("start")
	h.text("1000000001")
	res, err := h.eng.Handle(context.Background(), h.st, dialogs.Event{Key: "u7", UserID: user, ChatID: user, LanguageCode: "ru", Kind: dialogs.KindText, Text: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Replies[len(res.Replies)-1]
	if last.Effect == nil || last.Effect.Verb != "linked" || len(h.sms.sent) != 0 {
		t.Fatalf("last reply %+v, %d notices in the turn; want the linked notice as the last effect, none sent", last, len(h.sms.sent))
	}
	runEffects(t, h.eng, res.Replies)
	if n := len(h.sms.sent["+79000000001"]); n != 1 {
		t.Fatalf("%d notices to the contract phone after the effect, want 1", n)
	}
}
