package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// maxRequestBody is what Telegram accepts for an upload by a bot (50 MB);
// a larger body is answered 413 like Telegram's front end does.
const maxRequestBody = 50 << 20

// apiError is an answer Telegram gives instead of a result. The description
// is the exact text a bot would log, so tests can match on it.
type apiError struct {
	code        int
	description string
	retryAfter  int
	limit       string // the flood limit that answered 429 (LimitChat...), if one did
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.code, e.description) }

func badRequest(format string, args ...any) *apiError {
	return &apiError{code: http.StatusBadRequest, description: "Bad Request: " + fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *apiError {
	return &apiError{code: http.StatusForbidden, description: "Forbidden: " + fmt.Sprintf(format, args...)}
}

func tooManyRequests(retryAfter int) *apiError {
	return &apiError{
		code:        http.StatusTooManyRequests,
		description: fmt.Sprintf("Too Many Requests: retry after %d", retryAfter),
		retryAfter:  retryAfter,
	}
}

var (
	errUnauthorized = &apiError{code: http.StatusUnauthorized, description: "Unauthorized"}
	errNotFound     = &apiError{code: http.StatusNotFound, description: "Not Found"}
)

// Upload is a file a bot sent as a multipart/form-data part, with its
// bytes: a photo is checked as Telegram checks it (an image it can read,
// of the sizes it takes), and a test may read what a bot sent
// (Server.FileBytes).
type Upload struct {
	Filename string
	Size     int64
	Data     []byte
}

// rawRequest is what a request carried before it is checked against the
// method's parameters: every value as text (JSON values as their JSON text),
// and the uploaded files by part name.
type rawRequest struct {
	values map[string]string
	files  map[string]*Upload
}

// readRequest collects parameters the way the Bot API does: from the query
// string and from a body that is multipart/form-data,
// application/x-www-form-urlencoded or application/json.
func readRequest(w http.ResponseWriter, r *http.Request) (rawRequest, *apiError) {
	req := rawRequest{values: map[string]string{}, files: map[string]*Upload{}}
	for name, vs := range r.URL.Query() {
		if len(vs) > 0 {
			req.values[name] = vs[0]
		}
	}
	if r.Body == nil || r.Method == http.MethodGet {
		return req, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)

	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		return req, nil
	}
	mediaType, ctParams, err := mime.ParseMediaType(contentType)
	if err != nil {
		return req, badRequest("unsupported Content-Type %q", contentType)
	}

	var apiErr *apiError
	switch mediaType {
	case "multipart/form-data":
		apiErr = readMultipart(r.Body, ctParams["boundary"], req)
	case "application/x-www-form-urlencoded":
		apiErr = readURLEncoded(r.Body, req)
	case "application/json":
		apiErr = readJSON(r.Body, req)
	default:
		apiErr = badRequest("unsupported Content-Type %q", mediaType)
	}
	return req, apiErr
}

func bodyError(err error) *apiError {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return &apiError{code: http.StatusRequestEntityTooLarge, description: "Request Entity Too Large"}
	}
	return badRequest("can't read the request body: %v", err)
}

func readMultipart(body io.Reader, boundary string, req rawRequest) *apiError {
	if boundary == "" {
		return badRequest("multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			// go-telegram/bot sends an empty body with a multipart
			// Content-Type for methods without parameters.
			return nil
		}
		if err != nil {
			return bodyError(err)
		}
		name := part.FormName()
		if part.FileName() != "" {
			data, err := io.ReadAll(part)
			if err != nil {
				return bodyError(err)
			}
			if _, seen := req.files[name]; !seen {
				req.files[name] = &Upload{Filename: part.FileName(), Size: int64(len(data)), Data: data}
			}
			continue
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, part); err != nil {
			return bodyError(err)
		}
		if _, seen := req.values[name]; !seen {
			req.values[name] = buf.String()
		}
	}
}

func readURLEncoded(body io.Reader, req rawRequest) *apiError {
	data, err := io.ReadAll(body)
	if err != nil {
		return bodyError(err)
	}
	vs, err := url.ParseQuery(string(data))
	if err != nil {
		return badRequest("can't parse the form: %v", err)
	}
	for name, v := range vs {
		if len(v) > 0 {
			req.values[name] = v[0]
		}
	}
	return nil
}

func readJSON(body io.Reader, req rawRequest) *apiError {
	data, err := io.ReadAll(body)
	if err != nil {
		return bodyError(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return badRequest("can't parse JSON object: %v", err)
	}
	for name, raw := range obj {
		text := strings.TrimSpace(string(raw))
		switch {
		case text == "null":
			continue // a JSON null is the same as leaving the parameter out
		case strings.HasPrefix(text, `"`):
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return badRequest("can't parse parameter %q: %v", name, err)
			}
			req.values[name] = s
		default:
			req.values[name] = text
		}
	}
	return nil
}
