package emulator

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// sendOne sends one file with a send method through the library.
type sendOne func(ctx context.Context, b *bot.Bot, chat any, thread int, file models.InputFile, caption string) (*models.Message, error)

var sendMethods = map[string]sendOne{
	"photo": func(ctx context.Context, b *bot.Bot, chat any, thread int, f models.InputFile, caption string) (*models.Message, error) {
		return b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: chat, MessageThreadID: thread, Photo: f, Caption: caption, ParseMode: models.ParseModeHTML})
	},
	"document": func(ctx context.Context, b *bot.Bot, chat any, thread int, f models.InputFile, caption string) (*models.Message, error) {
		return b.SendDocument(ctx, &bot.SendDocumentParams{ChatID: chat, MessageThreadID: thread, Document: f, Caption: caption, ParseMode: models.ParseModeHTML})
	},
	"voice": func(ctx context.Context, b *bot.Bot, chat any, thread int, f models.InputFile, caption string) (*models.Message, error) {
		return b.SendVoice(ctx, &bot.SendVoiceParams{ChatID: chat, MessageThreadID: thread, Voice: f, Caption: caption, ParseMode: models.ParseModeHTML, Duration: 7})
	},
	"video": func(ctx context.Context, b *bot.Bot, chat any, thread int, f models.InputFile, caption string) (*models.Message, error) {
		return b.SendVideo(ctx, &bot.SendVideoParams{ChatID: chat, MessageThreadID: thread, Video: f, Caption: caption, ParseMode: models.ParseModeHTML, Duration: 12})
	},
	"audio": func(ctx context.Context, b *bot.Bot, chat any, thread int, f models.InputFile, caption string) (*models.Message, error) {
		return b.SendAudio(ctx, &bot.SendAudioParams{ChatID: chat, MessageThreadID: thread, Audio: f, Caption: caption, ParseMode: models.ParseModeHTML, Title: "Запись звонка"})
	},
	"animation": func(ctx context.Context, b *bot.Bot, chat any, thread int, f models.InputFile, caption string) (*models.Message, error) {
		return b.SendAnimation(ctx, &bot.SendAnimationParams{ChatID: chat, MessageThreadID: thread, Animation: f, Caption: caption, ParseMode: models.ParseModeHTML})
	},
}

// fileOf is the file_id a message carries, whatever its kind.
func fileOf(m *models.Message) (kind, fileID string) {
	switch {
	case len(m.Photo) > 0:
		return "photo", m.Photo[len(m.Photo)-1].FileID
	case m.Voice != nil:
		return "voice", m.Voice.FileID
	case m.Video != nil:
		return "video", m.Video.FileID
	case m.Audio != nil:
		return "audio", m.Audio.FileID
	case m.Animation != nil:
		return "animation", m.Animation.FileID
	case m.Document != nil:
		return "document", m.Document.FileID
	}
	return "", ""
}

// Every kind of file goes into a forum topic, uploaded, by URL or by the
// file_id of a file a subscriber sent, with its caption; a file_id Telegram
// does not know, or of a photo given where a document is wanted, is refused.
func TestSendFiles(t *testing.T) {
	srv := newServer(t, Options{})
	b := newClient(t, srv)
	ctx := context.Background()
	newSupportGroup(t, srv)
	topic, err := b.CreateForumTopic(ctx, &bot.CreateForumTopicParams{ChatID: supportGroup, Name: "Заявка"})
	if err != nil {
		t.Fatal(err)
	}
	srv.SendPhoto(alice, "роутер")
	srv.SendDocument(alice, "договор.pdf", "мой договор")
	srv.SendVoice(alice, 9)
	msgs := srv.Messages(alice.ID)
	_, photoID := fileOf(&msgs[0].Message)
	_, docID := fileOf(&msgs[1].Message)
	_, voiceID := fileOf(&msgs[2].Message)
	if msgs[1].Message.Document.FileName != "договор.pdf" || msgs[1].Text != "мой договор" || msgs[2].Message.Voice.Duration != 9 {
		t.Fatalf("the subscriber's files = %+v / %+v", msgs[1].Message.Document, msgs[2].Message.Voice)
	}

	upload := func(name string) models.InputFile {
		if strings.HasSuffix(name, ".jpg") {
			return &models.InputFileUpload{Filename: name, Data: bytes.NewReader(pngOf(t, 640, 480))}
		}
		return &models.InputFileUpload{Filename: name, Data: strings.NewReader("some bytes")}
	}
	picture := func(name string, data []byte) models.InputFile {
		return &models.InputFileUpload{Filename: name, Data: bytes.NewReader(data)}
	}
	byID := func(id string) models.InputFile { return &models.InputFileString{Data: id} }
	tests := []struct {
		name   string
		method string
		file   models.InputFile
		want   string // error; "" for success
		sameID string // the file_id the message must carry
	}{
		{"photo uploaded", "photo", upload("router.jpg"), "", ""},
		{"photo by the subscriber's file_id", "photo", byID(photoID), "", photoID},
		{"photo by URL", "photo", byID("https://provider.example/map.png"), "", ""},
		{"document uploaded", "document", upload("акт.pdf"), "", ""},
		{"document by the subscriber's file_id", "document", byID(docID), "", docID},
		{"a voice note sent on as a document", "document", byID(voiceID), "", voiceID},
		{"voice by the subscriber's file_id", "voice", byID(voiceID), "", voiceID},
		{"voice uploaded", "voice", upload("answer.ogg"), "", ""},
		{"video uploaded", "video", upload("how-to.mp4"), "", ""},
		{"audio uploaded", "audio", upload("call.mp3"), "", ""},
		{"animation uploaded", "animation", upload("hello.gif"), "", ""},
		{"an unknown file_id", "voice", byID("AwACAgIAAxkBAAEmadeup"), "Bad Request: wrong file identifier/HTTP URL specified", ""},
		{"a photo's file_id as a document", "document", byID(photoID), "Bad Request: can't use file of type Photo as Document", ""},
		{"a document's file_id as a photo", "photo", byID(docID), "Bad Request: can't use file of type Document as Photo", ""},
		{"an empty upload", "voice", &models.InputFileUpload{Filename: "empty.ogg", Data: strings.NewReader("")}, "Bad Request: file must be non-empty", ""},
		// A photo is read as Telegram reads it.
		{"a photo that is no picture", "photo", picture("chart.png", []byte("\x89PNG not really")), "Bad Request: IMAGE_PROCESS_FAILED", ""},
		{"a photo over 10 MB", "photo", picture("huge.png", append(pngOf(t, 10, 10), make([]byte, 10<<20)...)), "Bad Request: PHOTO_SAVE_FILE_INVALID", ""},
		{"a photo 8000 × 2001", "photo", picture("wide.png", pngOf(t, 8000, 2001)), "Bad Request: PHOTO_INVALID_DIMENSIONS", ""},
		{"a photo 21 times as wide as high", "photo", picture("strip.png", pngOf(t, 2100, 100)), "Bad Request: PHOTO_INVALID_DIMENSIONS", ""},
		{"the same picture as a document", "document", picture("wide.png", pngOf(t, 8000, 2001)), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := sendMethods[tt.method](ctx, b, supportGroup, topic.MessageThreadID, tt.file, "Абонент <b>1000000004</b>")
			if tt.want != "" {
				wantAPIError(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			kind, id := fileOf(msg)
			if kind != tt.method || id == "" || (tt.sameID != "" && id != tt.sameID) {
				t.Errorf("message carries %s %q, want %s %q", kind, id, tt.method, tt.sameID)
			}
			if msg.Caption != "Абонент 1000000004" || len(msg.CaptionEntities) != 1 || msg.CaptionEntities[0].Type != models.MessageEntityTypeBold {
				t.Errorf("caption %q %+v", msg.Caption, msg.CaptionEntities)
			}
			if msg.MessageThreadID != topic.MessageThreadID || !msg.IsTopicMessage {
				t.Errorf("thread %d, topic message %v", msg.MessageThreadID, msg.IsTopicMessage)
			}
			// The bot may send what it sent once again by file_id.
			again, err := sendMethods[tt.method](ctx, b, supportGroup, topic.MessageThreadID, byID(id), "")
			if _, id2 := fileOf(again); err != nil || id2 != id {
				t.Errorf("resending by file_id: %q, %v", id2, err)
			}
		})
	}

	// What each kind reports about itself.
	v, _ := sendMethods["voice"](ctx, b, supportGroup, 0, upload("a.ogg"), "")
	if v.Voice.Duration != 7 || v.Voice.MimeType != "audio/ogg" {
		t.Errorf("voice = %+v", v.Voice)
	}
	a, _ := sendMethods["animation"](ctx, b, supportGroup, 0, upload("a.gif"), "")
	if a.Animation == nil || a.Document == nil || a.Document.FileID != a.Animation.FileID {
		t.Errorf("an animation is also written as a document: %+v %+v", a.Animation, a.Document)
	}
	au, _ := sendMethods["audio"](ctx, b, supportGroup, 0, upload("a.mp3"), "")
	if au.Audio.Title != "Запись звонка" || au.Audio.FileName != "a.mp3" {
		t.Errorf("audio = %+v", au.Audio)
	}
	_, err = b.SendVoice(ctx, &bot.SendVoiceParams{ChatID: supportGroup, Voice: byID(voiceID), Caption: strings.Repeat("я", 1025)})
	wantAPIError(t, err, "Bad Request: message caption is too long")
}

// pngOf is a real PNG picture of w × h pixels.
func pngOf(t *testing.T, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A photo a bot uploads keeps its size as the picture has it, and a test
// reads back exactly the bytes that were sent.
func TestAnUploadedPhotoIsKeptAsSent(t *testing.T) {
	srv := newServer(t, Options{})
	srv.SendCommand(alice, "/start")
	b := newClient(t, srv)
	data := pngOf(t, 1200, 675)
	msg, err := b.SendPhoto(context.Background(), &bot.SendPhotoParams{ChatID: alice.ID,
		Photo: &models.InputFileUpload{Filename: "usage.png", Data: bytes.NewReader(data)}})
	if err != nil {
		t.Fatal(err)
	}
	full := msg.Photo[len(msg.Photo)-1]
	if full.Width != 1200 || full.Height != 675 || full.FileSize != len(data) {
		t.Errorf("photo size %+v, want 1200×675 of %d bytes", full, len(data))
	}
	got, ok := srv.FileBytes(full.FileID)
	if !ok || !bytes.Equal(got, data) {
		t.Errorf("FileBytes: %d bytes, %v; want the %d sent", len(got), ok, len(data))
	}
	if _, ok := srv.FileBytes("AgACAgIAAxkBAAEmadeup"); ok {
		t.Error("FileBytes answered for a file nobody uploaded")
	}
}
