package emulator

import (
	"bytes"
	"image"
	_ "image/gif" // the picture formats Telegram reads as photos
	_ "image/jpeg"
	_ "image/png"
	"mime"
	"path"
	"strings"

	"github.com/go-telegram/bot/models"
)

// mediaKind is a kind of file a message carries, named as the Bot API names
// it ("photo", "voice"...).
type mediaKind struct {
	// tdName is TDLib's name for the file type, as in its error "can't use
	// file of type Photo as Document".
	tdName string
	// mime is the MIME type Telegram reports when the file name tells none.
	mime string
}

var mediaKinds = map[string]mediaKind{
	"photo":     {tdName: "Photo", mime: "image/jpeg"},
	"document":  {tdName: "Document", mime: "application/octet-stream"},
	"voice":     {tdName: "VoiceNote", mime: "audio/ogg"},
	"video":     {tdName: "Video", mime: "video/mp4"},
	"audio":     {tdName: "Audio", mime: "audio/mpeg"},
	"animation": {tdName: "Animation", mime: "video/mp4"},
	"sticker":   {tdName: "Sticker", mime: "image/webp"},
}

// sendMediaMethods are the methods that send one file, each with the
// parameter that holds it, which is also the kind of file it makes.
var sendMediaMethods = map[string]string{
	"sendPhoto": "photo", "sendDocument": "document", "sendVoice": "voice",
	"sendVideo": "video", "sendAudio": "audio", "sendAnimation": "animation",
}

// sameFileClass tells whether a file stored as one kind may be sent as
// another. TDLib tells apart only photos and "documents" (every other file:
// a voice note's file_id may be sent with sendDocument, a photo's may not).
func sameFileClass(stored, wanted string) bool {
	return (stored == "photo") == (wanted == "photo")
}

// inputFile is a file a send method names: a new upload or URL, or a file_id
// Telegram already has.
type inputFile struct {
	existing *fileInfo
	name     string
	size     int64
	data     []byte // an upload's bytes
	// width and height of an uploaded photo, read from the picture.
	width, height int
}

// maxPhotoSize is the largest photo Telegram takes (10 MB); a larger
// picture goes as a document.
const maxPhotoSize = 10 << 20

// checkPhoto reads an uploaded photo as Telegram does: an image it can
// decode (JPEG, PNG, GIF), at most 10 MB, width and height together at
// most 10,000 and neither more than 20 times the other. It answers with
// Telegram's own error texts.
func checkPhoto(in *inputFile) *apiError {
	if in.size > maxPhotoSize {
		return badRequest("PHOTO_SAVE_FILE_INVALID")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(in.data))
	if err != nil {
		return badRequest("IMAGE_PROCESS_FAILED")
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 || w+h > 10000 || w > 20*h || h > 20*w {
		return badRequest("PHOTO_INVALID_DIMENSIONS")
	}
	in.width, in.height = w, h
	return nil
}

// uploaded is the inputFile of an upload, checked as its kind is.
func uploaded(up *Upload, kind string) (inputFile, *apiError) {
	in := inputFile{name: up.Filename, size: up.Size, data: up.Data}
	if kind == "photo" {
		if err := checkPhoto(&in); err != nil {
			return inputFile{}, err
		}
	}
	return in, nil
}

// readInputFile reads a file given as an upload, an attach:// reference to
// one, an HTTP URL or a file_id. field names the file in errors.
func (s *Server) readInputFile(p params, field, value string, upload *Upload, kind string) (inputFile, *apiError) {
	if upload != nil {
		if upload.Size == 0 {
			return inputFile{}, badRequest("file must be non-empty")
		}
		return uploaded(upload, kind)
	}
	switch {
	case value == "":
		return inputFile{}, badRequest("there is no %s in the request", field)
	case strings.HasPrefix(value, "http://") || strings.HasPrefix(value, "https://"):
		// Telegram would download it; the emulator trusts the URL.
		return inputFile{name: path.Base(value), size: 1}, nil
	case strings.HasPrefix(value, "attach://"):
		if up := p.files[strings.TrimPrefix(value, "attach://")]; up != nil && up.Size > 0 {
			return uploaded(up, kind)
		}
		return inputFile{}, badRequest("wrong file identifier/HTTP URL specified")
	}
	f, ok := s.files[value]
	if !ok {
		return inputFile{}, badRequest("wrong file identifier/HTTP URL specified")
	}
	if !sameFileClass(f.kind, kind) {
		return inputFile{}, badRequest("can't use file of type %s as %s", mediaKinds[f.kind].tdName, mediaKinds[kind].tdName)
	}
	return inputFile{existing: &f}, nil
}

// fileParam reads a send method's file parameter.
func (s *Server) fileParam(p params, field, kind string) (inputFile, *apiError) {
	if up, ok := p.typed[field].(*Upload); ok {
		return s.readInputFile(p, field, "", up, kind)
	}
	return s.readInputFile(p, field, p.str(field), nil, kind)
}

// mediaAttrs are what a request may say about a file besides the file.
type mediaAttrs struct {
	duration, width, height int
	performer, title        string
	spoiler, captionAbove   bool
}

func mediaAttrsOf(p params) mediaAttrs {
	return mediaAttrs{
		duration: int(p.int("duration")), width: int(p.int("width")), height: int(p.int("height")),
		performer: p.str("performer"), title: p.str("title"),
		spoiler: p.bool("has_spoiler"), captionAbove: p.bool("show_caption_above_media"),
	}
}

// storedFile is the file a message will carry: the one Telegram has, or a
// new one registered now (call it only once every check passed).
func (s *Server) storedFile(in inputFile, kind string, a mediaAttrs) fileInfo {
	if in.existing != nil {
		f := *in.existing
		if a.duration > 0 {
			f.duration = a.duration
		}
		return f
	}
	f := s.newFile(kind, in.name, in.size)
	f.duration, f.width, f.height, f.data = a.duration, a.width, a.height, in.data
	if in.width > 0 {
		f.width, f.height = in.width, in.height // a photo is as large as it is
	}
	s.files[f.id] = f
	return f
}

// FileBytes is what a bot uploaded as the file with this file_id (a
// photo's largest size, a document), false for a file it did not upload.
func (s *Server) FileBytes(fileID string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[fileID]
	if !ok || f.data == nil {
		return nil, false
	}
	return append([]byte(nil), f.data...), true
}

// setMedia puts a file into a message as the Bot API shows that kind.
func (s *Server) setMedia(msg *models.Message, kind string, f fileInfo, a mediaAttrs) {
	mimeType := mime.TypeByExtension(path.Ext(f.name))
	if mimeType == "" {
		mimeType = mediaKinds[kind].mime
	}
	width, height := f.width, f.height
	if width == 0 || height == 0 {
		width, height = 1280, 720
	}
	switch kind {
	case "photo":
		msg.Photo = s.photoSizes(f)
	case "document":
		msg.Document = &models.Document{FileID: f.id, FileUniqueID: f.uniqueID, FileName: f.name, MimeType: mimeType, FileSize: f.size}
	case "voice":
		msg.Voice = &models.Voice{FileID: f.id, FileUniqueID: f.uniqueID, Duration: f.duration, MimeType: mediaKinds[kind].mime, FileSize: f.size}
	case "video":
		msg.Video = &models.Video{FileID: f.id, FileUniqueID: f.uniqueID, Width: width, Height: height, Duration: f.duration,
			FileName: f.name, MimeType: mimeType, FileSize: f.size}
	case "audio":
		msg.Audio = &models.Audio{FileID: f.id, FileUniqueID: f.uniqueID, Duration: f.duration, Performer: a.performer, Title: a.title,
			FileName: f.name, MimeType: mimeType, FileSize: f.size}
	case "animation":
		msg.Animation = &models.Animation{FileID: f.id, FileUniqueID: f.uniqueID, Width: width, Height: height, Duration: f.duration,
			FileName: f.name, MimeType: mimeType, FileSize: f.size}
		// The Bot API also writes an animation as a document, for old bots.
		msg.Document = &models.Document{FileID: f.id, FileUniqueID: f.uniqueID, FileName: f.name, MimeType: mimeType, FileSize: f.size}
	}
	msg.HasMediaSpoiler = a.spoiler && (kind == "photo" || kind == "video" || kind == "animation")
	msg.ShowCaptionAboveMedia = a.captionAbove && (kind == "photo" || kind == "video" || kind == "animation")
}

// sendFile sends a photo, a document, a voice note, a video, an audio file
// or an animation: uploaded, by URL, or by the file_id of a file the
// emulator knows (one a person sent, or the bot before).
func (s *Server) sendFile(method string, p params) (result, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := sendMediaMethods[method]
	c, err := s.writableChat(p)
	if err != nil {
		return result{}, err
	}
	in, err := s.fileParam(p, kind, kind)
	if err != nil {
		return result{}, err
	}
	caption, err := formatParam(p, "caption", "caption_entities", maxCaptionLen, "message caption is too long", false)
	if err != nil {
		return result{}, err
	}
	o, err := s.parseSendOptions(c, p)
	if err != nil {
		return result{}, err
	}
	if err := s.limitLocked(c, method, p.bool("allow_paid_broadcast")); err != nil {
		return result{}, err
	}
	a := mediaAttrsOf(p)
	msg := s.newBotMessage(c, p, o)
	msg.Caption, msg.CaptionEntities = caption.text, caption.entities
	s.setMedia(&msg, kind, s.storedFile(in, kind, a), a)
	return s.storeBotMessage(c, msg, o, p.str("caption"), p.str("parse_mode")), nil
}

// photoSizes describes a photo as Telegram does: a thumbnail and the full
// size, the full size last.
func (s *Server) photoSizes(f fileInfo) []models.PhotoSize {
	thumb := s.newFile("photo", f.name, f.size/10+1)
	w, h := 1280, 960
	if f.width > 0 && f.height > 0 {
		w, h = f.width, f.height
	}
	return []models.PhotoSize{
		{FileID: thumb.id, FileUniqueID: thumb.uniqueID, Width: 90, Height: max(1, 90*h/w), FileSize: int(thumb.size)},
		{FileID: f.id, FileUniqueID: f.uniqueID, Width: w, Height: h, FileSize: int(f.size)},
	}
}
