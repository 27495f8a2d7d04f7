package artifacts

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
)

// The answers below keep the shapes of MLflow 3.18's artifact proxy
// (server/handlers.py), so the stock client and the UI need no change.

// textExtensions are the names MLflow serves as text/plain
// (utils/mime_type_utils.py), matched on the extension or, without one, the
// whole name (MLmodel, MLproject).
var textExtensions = map[string]bool{
	"txt": true, "log": true, "err": true, "cfg": true, "conf": true, "cnf": true, "cf": true, "ini": true,
	"properties": true, "prop": true, "hocon": true, "toml": true, "yaml": true, "yml": true, "xml": true,
	"json": true, "js": true, "py": true, "py3": true, "csv": true, "tsv": true, "md": true, "rst": true,
	"ipynb": true, "MLmodel": true, "MLproject": true,
}

// ContentType is the type MLflow gives a file of this name.
func ContentType(name string) string {
	ext := strings.TrimPrefix(path.Ext(name), ".")
	if ext == "" {
		ext = name
	}
	if textExtensions[ext] {
		return "text/plain"
	}
	if t, _, err := mime.ParseMediaType(mime.TypeByExtension(path.Ext(name))); err == nil {
		return t // without the charset Go adds to text types, as Python's mimetypes
	}
	return "application/octet-stream"
}

// ServeDownload answers GET or HEAD of one file: MLflow's headers (its type,
// an attachment named after the file, nosniff) plus a sandboxing policy, with
// Content-Length, ETag and Last-Modified from S3, and Range and conditional
// requests served from ranged reads (nothing is buffered whole).
func (s *Store) ServeDownload(w http.ResponseWriter, r *http.Request, p Path, log *slog.Logger) {
	h := w.Header()
	setHeaders := func(info minio.ObjectInfo) {
		h.Set("Content-Type", ContentType(p.Name()))
		h.Set("Content-Disposition", attachment(p.Name()))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox")
		if info.ETag != "" {
			h.Set("ETag", `"`+strings.Trim(info.ETag, `"`)+`"`)
		}
	}
	if r.Method == http.MethodGet && !partialOrConditional(r.Header) {
		// The common case, a whole file: one GET to S3, streamed as it comes
		// (a ranged or conditional request goes the ServeContent way below,
		// which costs S3 a HEAD first).
		body, info, _, err := minio.Core{Client: s.s3}.GetObject(r.Context(), s.bucket, Key(s.prefix, p), minio.GetObjectOptions{})
		if err != nil {
			s.fail(w, r, s3Error(err), log)
			return
		}
		defer body.Close()
		setHeaders(info)
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
		if !info.LastModified.IsZero() {
			h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		}
		w.WriteHeader(http.StatusOK)
		buf := copyBuffers.Get().(*[]byte)
		defer copyBuffers.Put(buf)
		_, _ = io.CopyBuffer(writerOnly{w}, body, *buf) // a failure midway is the client's or S3's; the length tells the client
		return
	}
	obj, info, err := s.Open(r.Context(), p)
	if err != nil {
		s.fail(w, r, err, log)
		return
	}
	defer obj.Close()
	setHeaders(info)
	http.ServeContent(w, r, "", info.LastModified, obj)
}

// partialOrConditional: the request asks for a range or depends on what the
// client has (which http.ServeContent answers).
func partialOrConditional(h http.Header) bool {
	for _, k := range []string{"Range", "If-Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return false
}

// copyBuffers are the buffers whole-file downloads stream through: larger
// than io.Copy's 32 KiB, so fewer writes per MiB, and reused.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writerOnly hides the ResponseWriter's ReadFrom, which would copy through
// a 32 KiB buffer of its own instead.
type writerOnly struct{ io.Writer }

// ServeList answers the folder listing: {"files": [...]} with names within
// the folder, or {} when there is nothing.
func (s *Store) ServeList(w http.ResponseWriter, r *http.Request, p Path, log *slog.Logger) {
	files, err := s.List(r.Context(), p)
	if err != nil {
		s.fail(w, r, err, log)
		return
	}
	var body struct {
		Files []FileInfo `json:"files,omitempty"`
	}
	body.Files = files
	writeJSON(w, http.StatusOK, body)
}

// attachment is MLflow's Content-Disposition: the plain name when it is
// ASCII; otherwise an ASCII fallback (the name without its other characters,
// or "download") and an RFC 5987 filename*.
func attachment(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x80 {
			return r
		}
		return -1
	}, name)
	if ascii == name {
		if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
			return v
		}
		return "attachment"
	}
	if strings.Trim(ascii, " .") == "" {
		ascii = "download"
	}
	fallback := mime.FormatMediaType("attachment", map[string]string{"filename": ascii})
	encoded := mime.FormatMediaType("attachment", map[string]string{"filename": name}) // attachment; filename*=utf-8''...
	if fallback == "" || encoded == "" {
		return "attachment"
	}
	return fallback + strings.TrimPrefix(encoded, "attachment")
}

// fail answers an S3 problem the way MLflow's clients understand, without
// S3's own words: 404 RESOURCE_DOES_NOT_EXIST, or 502 when the store did not
// answer as it should (logged with the detail).
func (s *Store) fail(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	switch {
	case errors.Is(err, ErrNotFound):
		WriteError(w, http.StatusNotFound, "RESOURCE_DOES_NOT_EXIST", "no such artifact")
	case errors.Is(err, errUpload):
		WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "no such multipart upload of this file, or its parts do not match")
	case errors.Is(err, ErrExists):
		WriteError(w, http.StatusForbidden, "PERMISSION_DENIED", "the artifact exists, and replacing it needs delete")
	case r.Context().Err() != nil:
		// The client went away; nobody reads an answer.
	default:
		if log != nil {
			log.LogAttrs(r.Context(), slog.LevelWarn, "artifact store", slog.String("error", err.Error()))
		}
		WriteError(w, http.StatusBadGateway, "TEMPORARILY_UNAVAILABLE", "the artifact store did not answer")
	}
}

// WriteError writes MLflow's error body.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error_code": code, "message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error_code":"INTERNAL_ERROR","message":"could not encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
