package state

import (
	"strconv"
	"strings"
)

// Conv names one conversation: the unit whose updates are handled one at a
// time, in order, with its own dialog states, lock and outbox. A private
// chat is one conversation; in a forum supergroup every topic is its own
// (Thread is the topic's message_thread_id), so that a busy topic never
// holds up another. Thread 0 is the chat itself (a private chat, a group
// without topics, or a forum's General topic).
type Conv struct {
	Chat   int64
	Thread int
}

// ChatConv is the conversation of a whole chat.
func ChatConv(chat int64) Conv { return Conv{Chat: chat} }

// String is the conversation's id in Redis: "42", or "-1001234/17" for a
// topic. It is the member of the shared index of waiting replies, and inside
// a hash tag it puts every key of the conversation in one Cluster slot.
func (c Conv) String() string {
	s := strconv.FormatInt(c.Chat, 10)
	if c.Thread != 0 {
		s += "/" + strconv.Itoa(c.Thread)
	}
	return s
}

// ParseConv reads what String wrote.
func ParseConv(s string) (Conv, bool) {
	chat, thread, topic := strings.Cut(s, "/")
	id, err := strconv.ParseInt(chat, 10, 64)
	if err != nil {
		return Conv{}, false
	}
	c := Conv{Chat: id}
	if topic {
		n, err := strconv.Atoi(thread)
		if err != nil || n <= 0 {
			return Conv{}, false
		}
		c.Thread = n
	}
	return c, true
}
