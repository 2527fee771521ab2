package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
	"github.com/fiorix/go-smpp/smpp/smpptest"
)

// submitted is one submit_sm as the test SMS centre decoded it. The test reads
// the PDUs with fiorix/go-smpp, a different implementation from the gosmpp
// that sends them, so an encoding mistake cannot cancel itself out.
type submitted struct {
	srcTON, srcNPI byte
	src            string
	dstTON, dstNPI byte
	dst            string
	esmClass       byte
	dataCoding     byte
	shortMessage   []byte // with the UDH, if any
}

// smsc is an in-process SMS centre that records submits and answers them.
type smsc struct {
	srv *smpptest.Server

	mu      sync.Mutex
	submits []submitted
	// answer decides the command_status of the submit_sm_resp; nil answers OK.
	// answered false means the centre stays silent.
	answer func(s submitted) (status pdu.Status, answered bool)
	// dropNext closes the connection instead of answering the next submit.
	dropNext bool
}

func startSMSC(t *testing.T) *smsc {
	t.Helper()
	c := &smsc{srv: smpptest.NewUnstartedServer()}
	c.srv.Handler = c.handle
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	return c
}

func (c *smsc) handle(conn smpptest.Conn, m pdu.Body) {
	seq := m.Header().Seq
	switch m.Header().ID {
	case pdu.EnquireLinkID:
		_ = conn.Write(pdu.NewEnquireLinkRespSeq(seq))
	case pdu.UnbindID:
		resp := pdu.NewUnbindResp()
		resp.Header().Seq = seq
		_ = conn.Write(resp)
	case pdu.SubmitSMID:
		f := m.Fields()
		s := submitted{
			srcTON:       f[pdufield.SourceAddrTON].Raw().(uint8),
			srcNPI:       f[pdufield.SourceAddrNPI].Raw().(uint8),
			src:          f[pdufield.SourceAddr].String(),
			dstTON:       f[pdufield.DestAddrTON].Raw().(uint8),
			dstNPI:       f[pdufield.DestAddrNPI].Raw().(uint8),
			dst:          f[pdufield.DestinationAddr].String(),
			esmClass:     f[pdufield.ESMClass].Raw().(uint8),
			dataCoding:   f[pdufield.DataCoding].Raw().(uint8),
			shortMessage: append([]byte(nil), f[pdufield.ShortMessage].Bytes()...),
		}
		c.mu.Lock()
		c.submits = append(c.submits, s)
		answer, drop := c.answer, c.dropNext
		c.dropNext = false
		c.mu.Unlock()

		if drop {
			_ = conn.Close()
			return
		}
		status, answered := pdu.Status(0), true
		if answer != nil {
			status, answered = answer(s)
		}
		if !answered {
			return
		}
		resp := pdu.NewSubmitSMResp()
		resp.Header().Seq = seq
		resp.Header().Status = status
		if status == 0 {
			_ = resp.Fields().Set(pdufield.MessageID, fmt.Sprintf("msg-%d", seq))
		}
		_ = conn.Write(resp)
	}
}

func (c *smsc) received() []submitted {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]submitted(nil), c.submits...)
}

func (c *smsc) setAnswer(f func(s submitted) (pdu.Status, bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answer = f
}

// connect binds a client to the test centre with its default credentials.
func (c *smsc) connect(t *testing.T, source string, timeout time.Duration) *SMPP {
	t.Helper()
	s, err := NewSMPP(SMPPConfig{
		Addr:           c.srv.Addr(),
		SystemID:       smpptest.DefaultUser,
		Password:       smpptest.DefaultPasswd,
		SourceAddr:     source,
		Timeout:        timeout,
		RebindInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("NewSMPP: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// udh is the concatenation header of one part.
type udh struct{ ref, total, seq byte }

// splitUDH separates the 8-bit-reference concatenation header (05 00 03 ref
// total seq) from the payload; found is false when there is no header.
func splitUDH(t *testing.T, s submitted) (h udh, payload []byte, found bool) {
	t.Helper()
	if s.esmClass&0x40 == 0 {
		return udh{}, s.shortMessage, false
	}
	sm := s.shortMessage
	if len(sm) < 6 || sm[0] != 5 || sm[1] != 0 || sm[2] != 3 {
		t.Fatalf("UDH indicator set but header is % x", sm[:min(len(sm), 6)])
	}
	return udh{ref: sm[3], total: sm[4], seq: sm[5]}, sm[6:], true
}

func decodeUCS2(t *testing.T, b []byte) string {
	t.Helper()
	if len(b)%2 != 0 {
		t.Fatalf("UCS2 payload of odd length %d", len(b))
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(units))
}

func decodeGSM7(b []byte) string {
	return string(pdutext.GSM7(b).Decode())
}

func TestSMPPSendsCyrillicCodeAsUCS2FromSenderName(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "Kabinet", 5*time.Second)

	text := "Код для привязки Telegram: 482915. Никому его не сообщайте."
	if err := s.Send(context.Background(), "+79161234567", text); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := centre.received()
	if len(got) != 1 {
		t.Fatalf("centre received %d submit_sm, want 1", len(got))
	}
	m := got[0]
	if m.dst != "79161234567" || m.dstTON != 1 || m.dstNPI != 1 {
		t.Errorf("destination = %q TON %d NPI %d, want 79161234567 TON 1 NPI 1", m.dst, m.dstTON, m.dstNPI)
	}
	if m.src != "Kabinet" || m.srcTON != 5 || m.srcNPI != 0 {
		t.Errorf("source = %q TON %d NPI %d, want Kabinet TON 5 NPI 0", m.src, m.srcTON, m.srcNPI)
	}
	if m.dataCoding != 8 {
		t.Errorf("data_coding = %d, want 8 (UCS2)", m.dataCoding)
	}
	if _, _, found := splitUDH(t, m); found {
		t.Errorf("a short text was sent with a concatenation header")
	}
	if decoded := decodeUCS2(t, m.shortMessage); decoded != text {
		t.Errorf("phone would show %q, want %q", decoded, text)
	}
}

func TestSMPPSendsLatinAsGSM7FromNumber(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "+74951234567", 5*time.Second)

	text := "Kabinet code: 482915 (valid 5 min) {do not share}"
	if err := s.Send(context.Background(), "+447700900123", text); err != nil {
		t.Fatalf("Send: %v", err)
	}

	got := centre.received()
	if len(got) != 1 {
		t.Fatalf("centre received %d submit_sm, want 1", len(got))
	}
	m := got[0]
	if m.src != "74951234567" || m.srcTON != 1 || m.srcNPI != 1 {
		t.Errorf("source = %q TON %d NPI %d, want 74951234567 TON 1 NPI 1", m.src, m.srcTON, m.srcNPI)
	}
	if m.dst != "447700900123" {
		t.Errorf("destination = %q, want 447700900123", m.dst)
	}
	if m.dataCoding != 0 {
		t.Errorf("data_coding = %d, want 0 (GSM 7-bit)", m.dataCoding)
	}
	if decoded := decodeGSM7(m.shortMessage); decoded != text {
		t.Errorf("phone would show %q, want %q", decoded, text)
	}
}

func TestSMPPSendsLongTextAsConcatenatedParts(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		wantParts int
		ucs2      bool
	}{
		{"russian", strings.Repeat("Ваш баланс пополнен на 500 ₽. ", 6), 3, true},         // 180 characters
		{"latin", strings.Repeat("Your balance was topped up by 500 RUB. ", 5), 2, false}, // 195 characters
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			centre := startSMSC(t)
			s := centre.connect(t, "Kabinet", 5*time.Second)
			if err := s.Send(context.Background(), "+79161234567", tt.text); err != nil {
				t.Fatalf("Send: %v", err)
			}

			got := centre.received()
			if len(got) != tt.wantParts {
				t.Fatalf("centre received %d parts, want %d", len(got), tt.wantParts)
			}
			var whole strings.Builder
			for i, m := range got {
				h, payload, found := splitUDH(t, m)
				if !found {
					t.Fatalf("part %d has no concatenation header", i+1)
				}
				if h.ref != mustHeader(t, got[0]).ref || int(h.total) != tt.wantParts || int(h.seq) != i+1 {
					t.Errorf("part %d header = %+v, want same ref, total %d, seq %d", i+1, h, tt.wantParts, i+1)
				}
				// A part must fit one SMS of 140 octets with its 6-octet header:
				// 134 octets of UCS2, or 153 septets of GSM 7-bit.
				if tt.ucs2 {
					if m.dataCoding != 8 || len(payload) > 134 {
						t.Errorf("part %d: data_coding %d, %d octets; want 8, at most 134", i+1, m.dataCoding, len(payload))
					}
					whole.WriteString(decodeUCS2(t, payload))
				} else {
					if m.dataCoding != 0 || len(payload) > 153 {
						t.Errorf("part %d: data_coding %d, %d septets; want 0, at most 153", i+1, m.dataCoding, len(payload))
					}
					whole.WriteString(decodeGSM7(payload))
				}
			}
			if whole.String() != tt.text {
				t.Errorf("phone would assemble %q, want %q", whole.String(), tt.text)
			}
		})
	}
}

func mustHeader(t *testing.T, s submitted) udh {
	t.Helper()
	h, _, found := splitUDH(t, s)
	if !found {
		t.Fatalf("no concatenation header")
	}
	return h
}

func TestSMPPRejectedSubmitIsAnError(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "Kabinet", 5*time.Second)
	centre.setAnswer(func(submitted) (pdu.Status, bool) { return 0x45, true }) // ESME_RSUBMITFAIL

	text := "Код: 482915"
	err := s.Send(context.Background(), "+79161234567", text)
	if err == nil {
		t.Fatal("Send returned nil for a submit the centre rejected")
	}
	if !strings.Contains(err.Error(), "ESME_RSUBMITFAIL") {
		t.Errorf("error %q does not name the centre's status", err)
	}
	for _, secret := range []string{"9161234567", "482915"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains personal data %q", err, secret)
		}
	}
}

// Answers come back in any order on one connection; each caller must get the
// answer to its own message, or a failed code would look sent.
func TestSMPPEachCallerGetsItsOwnAnswer(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "Kabinet", 5*time.Second)
	const rejected = "79160000007"
	centre.setAnswer(func(m submitted) (pdu.Status, bool) {
		if m.dst == rejected {
			return 0x0b, true // ESME_RINVDSTADR
		}
		return 0, true
	})

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Send(context.Background(), fmt.Sprintf("+7916000000%d", i), "Код: 123456")
		})
	}
	wg.Wait()

	for i, err := range errs {
		if to := fmt.Sprintf("7916000000%d", i); to == rejected {
			if err == nil {
				t.Errorf("send to the rejected number returned nil")
			}
		} else if err != nil {
			t.Errorf("send %d: %v", i, err)
		}
	}
	if got := len(centre.received()); got != n {
		t.Errorf("centre received %d messages, want %d", got, n)
	}
}

func TestSMPPSilentCentreTimesOut(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "Kabinet", 300*time.Millisecond)
	centre.setAnswer(func(submitted) (pdu.Status, bool) { return 0, false })

	err := s.Send(context.Background(), "+79161234567", "Код: 482915")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send = %v, want a deadline error", err)
	}
}

func TestSMPPSendsAgainAfterTheCentreDropsTheConnection(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "Kabinet", 2*time.Second)
	centre.mu.Lock()
	centre.dropNext = true
	centre.mu.Unlock()

	if err := s.Send(context.Background(), "+79161234567", "Код: 111111"); err == nil {
		t.Fatal("Send returned nil although the connection was dropped before an answer")
	}

	// The session rebinds on its own; a later message goes through.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Send(context.Background(), "+79161234567", "Код: 222222")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after the connection was dropped: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := centre.received()
	if last := decodeUCS2(t, got[len(got)-1].shortMessage); last != "Код: 222222" {
		t.Errorf("last message the centre received = %q", last)
	}
}

func TestSMPPWrongPasswordFailsAtStart(t *testing.T) {
	centre := startSMSC(t)
	s, err := NewSMPP(SMPPConfig{
		Addr:       centre.srv.Addr(),
		SystemID:   smpptest.DefaultUser,
		Password:   "wrong",
		SourceAddr: "Kabinet",
		Timeout:    2 * time.Second,
	})
	if err == nil {
		_ = s.Close()
		t.Fatal("NewSMPP bound with a wrong password")
	}
}

func TestSMPPSendAfterCloseFails(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "Kabinet", time.Second)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Send(context.Background(), "+79161234567", "Код: 482915"); err == nil {
		t.Fatal("Send after Close returned nil")
	}
}

func TestSMPPRejectsBadInputBeforeSending(t *testing.T) {
	centre := startSMSC(t)
	s := centre.connect(t, "Kabinet", time.Second)
	if err := s.Send(context.Background(), "89161234567", "Код"); !errors.Is(err, ErrBadNumber) {
		t.Errorf("number without +: %v, want ErrBadNumber", err)
	}
	if err := s.Send(context.Background(), "+79161234567", ""); !errors.Is(err, ErrEmptyText) {
		t.Errorf("empty text: %v, want ErrEmptyText", err)
	}
	if got := len(centre.received()); got != 0 {
		t.Errorf("centre received %d messages", got)
	}
}

// The number of SMS a text costs is what the provider pays for: no part may be
// wasted, and none may be too long for a phone.
func TestSplitText(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		wantUCS2  bool
		wantParts []int // length of each part in characters
	}{
		{"160 latin fit one SMS", strings.Repeat("a", 160), false, []int{160}},
		{"161 latin need two", strings.Repeat("a", 161), false, []int{153, 8}},
		{"escapes count twice", strings.Repeat("{", 80), false, []int{80}},
		{"81 escapes need two", strings.Repeat("{", 81), false, []int{76, 5}},
		{"70 cyrillic fit one SMS", strings.Repeat("ж", 70), true, []int{70}},
		{"71 cyrillic need two", strings.Repeat("ж", 71), true, []int{67, 4}},
		{"emoji is not split", strings.Repeat("ж", 66) + "😀" + "жжж", true, []int{66, 4}},
		{"one non-GSM character makes it UCS2", "code 123456 ₽", true, []int{13}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, parts := splitText(tt.text)
			if isUCS2 := enc.DataCoding() == 8; isUCS2 != tt.wantUCS2 {
				t.Errorf("UCS2 = %v, want %v", isUCS2, tt.wantUCS2)
			}
			var lens []int
			for _, p := range parts {
				lens = append(lens, len([]rune(p)))
			}
			if fmt.Sprint(lens) != fmt.Sprint(tt.wantParts) {
				t.Errorf("parts = %v characters, want %v", lens, tt.wantParts)
			}
			if strings.Join(parts, "") != tt.text {
				t.Errorf("parts do not add up to the text")
			}
		})
	}
}
