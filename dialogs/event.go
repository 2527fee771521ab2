// Package dialogs is the heart of Kabinet: every conversation as a state
// machine. Its input is a small Event (who, which chat, what they sent), its
// output is the replies to show and the next State. It imports no Telegram,
// SQL or Redis package: the bot package turns updates into events and replies
// into Bot API calls, and adapters (billing/postgres, otp) implement the
// interfaces declared in deps.go. That makes every conversation a table test.
package dialogs

import "time"

// Kind says what a person did.
type Kind int

// The kinds of input the dialogs understand. Anything else arrives as KindOther
// and gets a polite "I did not understand" with the current step again.
const (
	KindText     Kind = iota // a plain text message
	KindCommand              // a /command, with Command and Args set
	KindCallback             // an inline button press, with Data and MessageID set
	KindContact              // a shared contact, with Contact set
	KindLocation             // a shared location, with Location set
	KindEdited               // an edited message: never acted on
	KindOther                // a sticker, photo, voice, file...
	KindTimer                // a Timer this conversation asked for fell due, with Data set
)

// Event is one thing a person did in a private chat with the bot.
type Event struct {
	// Key names the thing that happened, stably: the same update delivered
	// again after a crash has the same Key, any other update (a second tap
	// on the same button too) another one. Telegram delivers an update
	// until the bot acknowledges it, and a process can die between a side
	// effect and the commit of its turn, so every side effect a dialog
	// causes (a code checked or sent, an account linked, a notice SMS, a
	// trust payment granted) is keyed by it and answers the same when the
	// event comes again. The bot package sets "u<update_id>" for an update
	// and a key taken from the timer's own id for a timer. "" (tests) keys
	// nothing: such a call is never taken for an earlier one.
	Key    string
	UserID int64
	ChatID int64
	// LanguageCode is Telegram's language_code of the sender ("ru", "en-GB", "").
	LanguageCode string
	Kind         Kind
	Text         string // KindText
	// HTML is Text (or the caption) as HTML with the sender's formatting
	// (bold, links, code...), every character escaped: what a feature
	// writes on to someone else keeps it.
	HTML    string
	Command string // KindCommand: "start", "help", ... without the slash and @bot
	Args    string // KindCommand: the rest of the line
	Data    string // KindCallback: the button's callback data
	// MessageID is the message the event is about: the one that carries
	// the pressed button (0 if unknown), or the message sent or edited.
	MessageID int
	Contact   *Contact
	Location  *Location
	// Group marks an event from a group or supergroup (operators' chats);
	// only a feature that asked for group events (registry.group) sees it.
	Group bool
	// Member tells, for a group event, that the sender is a member of the
	// group (the bot asked Telegram before the turn): only members act in
	// the operators' groups, while a public group lets anyone press.
	Member bool
	// Thread is the forum topic of a group event (0: none, or General).
	Thread int
	// Media marks a message Telegram can copy as it is (a photo, a file, a
	// voice message...); Text is then its caption.
	Media bool
	// FromName is the sender's first name, for a group event (an operator's
	// default signature), a callback and a command (a trusted person
	// accepting an invitation by /start <token>).
	FromName string
	// Album is Telegram's media_group_id: the messages of one album share it.
	Album string
}

// Contact is a shared phone contact.
type Contact struct {
	Phone  string // as Telegram sends it: digits, maybe with "+"
	UserID int64  // the Telegram user the contact belongs to (0 if none)
}

// Location is a shared point.
type Location struct {
	Lat, Lon float64
}

// Reply is one thing the bot shows: a new message, or an edit of the message
// that carried the pressed button.
type Reply struct {
	Text string // HTML; every value from a person or a database is escaped
	// Buttons is an inline keyboard under the message.
	Buttons [][]Button
	// Keyboard, when set, replaces the reply keyboard under the input field.
	Keyboard *Keyboard
	// Edit makes this reply edit the message with this id instead of sending a new one.
	Edit int
	// Venue, when set, makes this reply a map pin with a name and an address
	// (sendVenue) instead of a text message: Text and Edit are not used,
	// Buttons or Keyboard go under the pin.
	Venue *Venue
	// To, when set, sends this reply into another conversation (an
	// operators' forum topic, a subscriber's chat) instead of the one the
	// event came from. It is saved with the turn all the same, and reaches
	// the other conversation's outbox exactly once, behind what waits there.
	To *Target
	// Receipt, when set, asks to be told the id of the message this reply
	// became: the engine's Receipt gets it, under the feature's tag
	// ("verb:..."), once the message is sent (the support relay maps the
	// messages of both sides so).
	Receipt string
	// Effect, when set, makes this reply the work of a registered effect:
	// a call to a service outside (an SMS gateway, a payment provider) that
	// the turn must not wait for under its lock. See Effect. Nothing else of
	// the reply is used.
	Effect *Effect
	// Copy, when set, copies a message (copyMessage) instead of sending
	// Text: a photo, a file or a voice message stays what it was. A non-empty
	// Text replaces its caption (HTML).
	Copy *Copy
	// Topic, when set, creates a forum topic of this name in the reply's
	// chat (To) instead of sending a message; its Receipt gets the new
	// topic's id as Thread. With To naming a topic, it renames that topic.
	Topic string
	// React, when set with Edit naming a message, puts this emoji reaction
	// on that message instead of sending anything.
	React string
	// File, when set, makes this reply a picture or a file (a chart, a
	// statement) with Text as its caption and Buttons under it. Its bytes
	// are made only when it is sent (Engine.RenderFile), so that they
	// never sit in the outbox.
	File *File
}

// File names a picture or a file a feature makes when the reply is sent:
// the reply keeps only this, never the bytes.
type File struct {
	Kind  string // a kind the feature registered (registry.file)
	Data  string // its arguments, as the feature encodes them
	Photo bool   // shown as a picture (sendPhoto), else as a file (sendDocument)
	// Set by the engine from the turn that asked for it.
	UserID int64
	Lang   string
}

// Upload is a made file: its name, MIME type and bytes.
type Upload struct {
	Name string
	Type string
	Body []byte
}

// Copy names a message to copy, or with More an album: the messages are
// copied together (copyMessages) and stay one album.
type Copy struct {
	FromChat  int64
	MessageID int
	More      []int `json:",omitempty"`
}

// Target is a conversation other than the event's own: a chat, or a topic
// of a forum supergroup (Thread is its message_thread_id).
type Target struct {
	Chat   int64
	Thread int
}

// Effect is work of a turn that calls a service outside Kabinet (an SMS
// gateway, a payment provider). A turn runs under its conversation's lock,
// which must never wait for such a call, so the turn only asks for the
// effect: it is saved with the turn, in the conversation's outbox among
// the replies, and the sender runs it (Engine.RunEffect) after the turn is
// saved, in order, outside the lock. The replies it returns take its
// place: the person reads "the code went to ..." only once the gateway took
// the SMS, and never before the replies that came first.
//
// An effect runs again if the process dies before its replies are saved,
// so it must give the same answer again for the same Key. It cannot change
// the conversation's state: what the state must say is decided in the turn.
type Effect struct {
	Verb string // a verb the feature registered (registry.effect)
	Data string // the effect's arguments, as the feature encodes them
	// Set by the engine from the turn that asked for it.
	Key    string // the event's Key
	UserID int64
	ChatID int64
	Lang   string
}

// Sent tells a feature which message a reply with a Receipt became, or
// that it could not be delivered (Failed).
type Sent struct {
	Receipt   string
	Chat      int64
	Thread    int // for a created topic: the new topic's id
	MessageID int
	// Failed is why Telegram refused it for good, "" when it was sent:
	// FailBlocked, FailTopicGone or FailRefused.
	Failed string
}

// Why a reply with a Receipt was not delivered.
const (
	FailBlocked   = "blocked"    // the person blocked the bot
	FailTopicGone = "topic_gone" // the forum topic was deleted or closed
	FailRefused   = "refused"    // any other refusal (400)
)

// Venue is a place shown as a pin on a map, for "the nearest office".
// Title and Address are plain text, not HTML: Telegram shows them as given.
type Venue struct {
	Lat, Lon       float64
	Title, Address string
}

// Button is an inline button: either a callback (Data) or a link (URL).
type Button struct {
	Text string
	Data string // at most 64 bytes
	URL  string
}

// Keyboard is a reply keyboard; Remove hides the current one.
type Keyboard struct {
	Rows   [][]KeyButton
	Remove bool
}

// KeyButton is a reply keyboard button; the request flags make Telegram send
// the person's own contact or location when pressed.
type KeyButton struct {
	Text            string
	RequestContact  bool
	RequestLocation bool
}

// Result is what handling an event produced.
type Result struct {
	Replies []Reply
	// Toast is the short answer to a button press (answerCallbackQuery).
	Toast string
	// Timers ask for a KindTimer event later in this conversation (e.g.
	// offering "send the code again" once the resend pause is over).
	Timers []Timer
	// ChatCommands, when set, becomes this chat's command menu: Telegram
	// chooses a menu by the app's language, which knows nothing of a
	// language chosen with /language.
	ChatCommands []Command
	State        State
}

// Command is one entry of the bot's command menu: /Name, with Description.
type Command struct {
	Name        string
	Description string
}

// Timer is a KindTimer event with Data, due After from now, in the
// language of the conversation that asked for it. Timers are kept in Redis
// and survive a restart; one that fires when the conversation has moved on
// is simply ignored by its handler.
type Timer struct {
	After time.Duration
	Data  string
	Lang  string
}
