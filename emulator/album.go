package emulator

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-telegram/bot/models"
)

// Album sizes: the Bot API documents 2-10 items for sendMediaGroup.
const (
	minAlbum = 2
	maxAlbum = 10
)

// albumKinds are the kinds of file an album may hold; documents and audio
// files only with their own kind (TDLib's "homogenous" contents).
var albumKinds = map[string]bool{"photo": true, "video": true, "document": true, "audio": true}

func homogenous(kind string) bool { return kind == "document" || kind == "audio" }

// checkAlbumKinds applies TDLib's rule for an album's contents, with its
// error text.
func checkAlbumKinds(kinds []string) string {
	for _, k := range kinds {
		if homogenous(k) {
			for _, other := range kinds {
				if other != k {
					// "Document can't be mixed ..." with its first letter
					// lowered by the Bot API.
					return fmt.Sprintf("%s can't be mixed with other media types", k)
				}
			}
		}
	}
	return ""
}

// nextMediaGroupID gives an album its media_group_id, a long number as a
// string as Telegram writes it.
func (s *Server) nextMediaGroupID() string {
	s.nextAlbumN++
	return strconv.FormatInt(13870000000000000+int64(s.nextAlbumN), 10)
}

// albumItem is one element of sendMediaGroup's media after its checks.
type albumItem struct {
	kind    string
	file    inputFile
	caption formatted
	raw     string // the caption as sent
	mode    string
	attrs   mediaAttrs
}

// sendMediaGroup sends 2-10 photos and videos, or documents, or audio files,
// as one album: messages in a row sharing a media_group_id. The result is
// the array of messages.
func (s *Server) sendMediaGroup(p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	var media []struct {
		Type                  string                 `json:"type"`
		Media                 string                 `json:"media"`
		Caption               string                 `json:"caption"`
		ParseMode             string                 `json:"parse_mode"`
		CaptionEntities       []models.MessageEntity `json:"caption_entities"`
		ShowCaptionAboveMedia bool                   `json:"show_caption_above_media"`
		HasSpoiler            bool                   `json:"has_spoiler"`
		Duration              int                    `json:"duration"`
		Width                 int                    `json:"width"`
		Height                int                    `json:"height"`
		Performer             string                 `json:"performer"`
		Title                 string                 `json:"title"`
	}
	if err := p.decode("media", &media); err != nil {
		return result{}, badRequest("can't parse media JSON object")
	}
	switch {
	case len(media) == 0:
		return result{}, badRequest("there are no messages to send")
	case len(media) > maxAlbum:
		return result{}, badRequest("too many messages to send as an album")
	case len(media) < minAlbum:
		// Stricter than Telegram, which is said to send a single item as a
		// plain message without media_group_id (not checked): the Bot API
		// documents 2-10, and a relay that sends one is likely broken.
		return result{}, badRequest("media must include %d-%d items (the Bot API documents it so)", minAlbum, maxAlbum)
	}
	items := make([]albumItem, len(media))
	kinds := make([]string, len(media))
	for i, m := range media {
		if m.Type == "live_photo" {
			return result{}, badRequest("live photos are not implemented by the emulator")
		}
		// The Bot API finds no file in an attach:// naming no part.
		if name, ok := strings.CutPrefix(m.Media, "attach://"); m.Media == "" || ok && p.files[name] == nil {
			return result{}, badRequest("can't parse InputMedia: media not found")
		}
		in, err := s.readInputFile(p, "media", m.Media, nil, m.Type)
		if err != nil {
			return result{}, err
		}
		f, err := formatText(m.Caption, m.ParseMode, m.CaptionEntities)
		if err != nil {
			return result{}, err
		}
		if utf16Len(f.text) > maxCaptionLen {
			return result{}, badRequest("message caption is too long")
		}
		if m.ShowCaptionAboveMedia != media[0].ShowCaptionAboveMedia {
			return result{}, badRequest("parameter show_caption_above_media must be the same for all messages")
		}
		kinds[i] = m.Type
		items[i] = albumItem{kind: m.Type, file: in, caption: f, raw: m.Caption, mode: m.ParseMode, attrs: mediaAttrs{
			duration: m.Duration, width: m.Width, height: m.Height, performer: m.Performer, title: m.Title,
			spoiler: m.HasSpoiler, captionAbove: m.ShowCaptionAboveMedia,
		}}
	}
	if msg := checkAlbumKinds(kinds); msg != "" {
		return result{}, badRequest("%s", msg)
	}
	o, err := s.parseSendOptions(c, p)
	if err != nil {
		return result{}, err
	}
	if err := s.limitNLocked(c, "sendMediaGroup", p.bool("allow_paid_broadcast"), len(items)); err != nil {
		return result{}, err
	}
	group := s.nextMediaGroupID()
	sent := make([]models.Message, 0, len(items))
	for _, it := range items {
		msg := s.newBotMessage(c, p, o)
		msg.MediaGroupID = group
		msg.Caption, msg.CaptionEntities = it.caption.text, it.caption.entities
		s.setMedia(&msg, it.kind, s.storedFile(it.file, it.kind, it.attrs), it.attrs)
		s.storeBotMessage(c, msg, o, it.raw, it.mode)
		sent = append(sent, msg)
	}
	return result{value: sent}, nil
}

// AlbumItem is one file of an album a person sends: Kind is "photo",
// "video", "document" or "audio"; FileName names it (optional); Caption is
// the item's caption, usually only the first item's.
type AlbumItem struct {
	Kind     string
	FileName string
	Caption  string
}

// checkAlbum applies the app's rules to an album a person sends.
func checkAlbum(items []AlbumItem) error {
	if len(items) < minAlbum || len(items) > maxAlbum {
		return fmt.Errorf("emulator: an album has %d-%d items, not %d", minAlbum, maxAlbum, len(items))
	}
	kinds := make([]string, len(items))
	for i, it := range items {
		if !albumKinds[it.Kind] {
			return fmt.Errorf("emulator: an album can't hold a %q", it.Kind)
		}
		kinds[i] = it.Kind
	}
	if msg := checkAlbumKinds(kinds); msg != "" {
		return errors.New("emulator: " + msg)
	}
	return nil
}

// albumFiles registers the files of a person's album.
func (s *Server) albumFiles(items []AlbumItem) []fileInfo {
	files := make([]fileInfo, len(items))
	for i, it := range items {
		name := it.FileName
		if name == "" {
			name = map[string]string{"photo": "photo.jpg", "video": "video.mp4", "document": "file", "audio": "audio.mp3"}[it.Kind]
		}
		files[i] = s.newFile(it.Kind, name, 150000+int64(i))
	}
	return files
}

// SendAlbum is the person sending several files at once (an album): the bot
// gets one message update per file, in a row, sharing a media_group_id, as
// Telegram delivers albums. It returns the updates' ids.
func (s *Server) SendAlbum(u User, items []AlbumItem) ([]int64, error) {
	if err := checkAlbum(items); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	files := s.albumFiles(items)
	group := s.nextMediaGroupID()
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = s.userMessageLocked(u, func(m *models.Message) {
			s.setMedia(m, it.Kind, files[i], mediaAttrs{})
			m.MediaGroupID = group
			m.Caption, m.CaptionEntities = it.Caption, commandEntities(it.Caption)
		})
	}
	return ids, nil
}

// PostAlbum is an operator sending an album into a topic (threadID; 0 for
// General): one message and one update per file, sharing a media_group_id.
func (s *Server) PostAlbum(chatID int64, threadID int, from User, items []AlbumItem) ([]Sent, error) {
	if err := checkAlbum(items); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, t, err := s.postTarget(chatID, threadID, from)
	if err != nil {
		return nil, err
	}
	files := s.albumFiles(items)
	group := s.nextMediaGroupID()
	out := make([]Sent, len(items))
	for i, it := range items {
		out[i], err = s.postLocked(c, t, from, 0, func(m *models.Message) {
			s.setMedia(m, it.Kind, files[i], mediaAttrs{})
			m.MediaGroupID = group
			m.Caption, m.CaptionEntities = it.Caption, commandEntities(it.Caption)
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
