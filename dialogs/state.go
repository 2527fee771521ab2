package dialogs

// Step names where a conversation stands. The zero value is the idle menu.
type Step string

// The steps of the conversations.
const (
	StepIdle          Step = ""
	StepLinkNumber    Step = "link.number"     // waiting for an account number or a shared contact
	StepLinkPick      Step = "link.pick"       // several accounts on a shared phone: pick one
	StepLinkCode      Step = "link.code"       // waiting for the SMS code
	StepUnlinkConfirm Step = "accounts.unlink" // "unlink this account?" (Account set)
)

// State is a conversation's position, saved between events (in Redis, by
// the bot package). It holds ids, never personal data: phones and names are
// read from billing when needed.
type State struct {
	Step Step `json:"step,omitempty"`
	// Lang is the language chosen with /language ("" means: follow Telegram's language_code).
	Lang string `json:"lang,omitempty"`
	// LangLoaded tells that Lang was read from the long-lived settings once.
	LangLoaded bool `json:"lang_loaded,omitempty"`
	// Account is the account the current step is about (code, unlink).
	Account int64 `json:"account,omitempty"`
	// Decoy marks a code step for an account number that does not exist: it
	// behaves exactly like a real one so that nobody can probe for numbers.
	Decoy bool `json:"decoy,omitempty"`
	// Masked is the masked phone the code went to, shown again on resend.
	Masked string `json:"masked,omitempty"`
	// Number is the account number being linked, to resend the code.
	Number string `json:"number,omitempty"`
	// CodeSentAt is when the last code went out (Unix seconds), to offer
	// "send again" once the resend pause is over.
	CodeSentAt int64 `json:"code_sent_at,omitempty"`
	// Candidates are the account numbers offered on a shared phone (StepLinkPick).
	Candidates []string `json:"candidates,omitempty"`
	// Nonce tells one "Other amount" request from the next (payments): the
	// same sum typed twice in one request is one payment, in two requests two.
	Nonce int64 `json:"nonce,omitempty"`
	// Support: the category of the request being described, the ids of
	// the messages that describe it (copied to the operators as they are),
	// how many of them are media, the start of its first text (for the
	// confirm step), a phone to reach a subscriber without an account, and
	// the request a rating's comment is about.
	Category string `json:"category,omitempty"`
	Messages []int  `json:"messages,omitempty"`
	Media    int    `json:"media,omitempty"`
	// Texts are those messages' texts or captions (each at most 500
	// characters), for the operators' history; MediaAt marks which of
	// them are media.
	Texts   []string `json:"texts,omitempty"`
	MediaAt []bool   `json:"media_at,omitempty"`
	AlbumAt []string `json:"album_at,omitempty"`
	Summary string   `json:"summary,omitempty"`
	Phone   string   `json:"phone,omitempty"`
	Request int64    `json:"request,omitempty"`
	// Details are a new connection's answers so far (city, address, name).
	Details []string `json:"details,omitempty"`
}
