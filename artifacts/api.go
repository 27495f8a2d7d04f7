package artifacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/minio/minio-go/v7"
)

// The handlers below are MLflow's artifact proxy API (mlflow-artifacts/...)
// served from the bucket. The caller has been authorized for the experiment
// the path names; the handlers check the path against the layout (400 for
// anything that could reach outside it) and never touch a key outside it.

// Counters are the bytes the handlers moved, for the gate's metrics: proof
// that artifact bytes stream through the gate and not through MLflow.
type Counters struct {
	Downloaded atomic.Int64 // bytes sent to clients
	Uploaded   atomic.Int64 // bytes received from clients and stored (not presigned parts, which go to S3 directly)
	Presigned  atomic.Int64 // presigned URLs handed out
}

// maxParts is S3's limit on the parts of one multipart upload.
const maxParts = 10000

// HandleList answers GET mlflow-artifacts/artifacts?path=: the listing of a
// folder at or below an artifacts root.
func (s *Store) HandleList(w http.ResponseWriter, r *http.Request, path string) {
	p, err := Parse(path, false)
	if err != nil {
		badPath(w, err)
		return
	}
	s.ServeList(w, r, p, s.log)
}

// HandleRunList answers the tracking API's artifacts/list of a run whose
// artifact root is root (in the layout; rootURI is the run's artifact URI):
// the folder rel below it ("" for the root), entries named by their path
// from the root, as MLflow's ListArtifacts answers.
func (s *Store) HandleRunList(w http.ResponseWriter, r *http.Request, root, rel, rootURI string) {
	dir := root
	if rel != "" {
		dir += "/" + rel
	}
	p, err := Parse(dir, false)
	if err != nil {
		badPath(w, err)
		return
	}
	files, err := s.List(r.Context(), p)
	if err != nil {
		s.fail(w, r, err, s.log)
		return
	}
	if rel != "" {
		for i := range files {
			files[i].Path = rel + "/" + files[i].Path
		}
	}
	writeJSON(w, http.StatusOK, struct {
		RootURI string     `json:"root_uri"`
		Files   []FileInfo `json:"files,omitempty"`
	}{rootURI, files})
}

// HandleDownload answers GET and HEAD of mlflow-artifacts/artifacts/<path>.
func (s *Store) HandleDownload(w http.ResponseWriter, r *http.Request, path string) {
	p, err := Parse(path, true)
	if err != nil {
		badPath(w, err)
		return
	}
	s.ServeDownload(&countingWriter{ResponseWriter: w, n: &s.counters.Downloaded}, r, p, s.log)
}

// HandleUpload answers PUT mlflow-artifacts/artifacts/<path>: the body is
// streamed to the bucket as it arrives. Unless replace (the caller may
// delete), the write is conditional, so an existing file is never replaced.
func (s *Store) HandleUpload(w http.ResponseWriter, r *http.Request, path string, replace bool) {
	p, err := Parse(path, true)
	if err != nil {
		badPath(w, err)
		return
	}
	body := &countingReader{r: r.Body, n: &s.counters.Uploaded}
	if err := s.Put(r.Context(), p, body, r.ContentLength, ContentType(p.Name()), replace); err != nil {
		var ne net.Error
		switch {
		case body.err == nil || r.Context().Err() != nil:
			s.fail(w, r, err, s.log)
		case errors.As(body.err, &ne) && ne.Timeout():
			WriteError(w, http.StatusRequestTimeout, "REQUEST_TIMEOUT", "request body arrived too slowly")
		default:
			// Nothing was stored: S3 keeps no part of a PUT that did not end.
			WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "the upload's body could not be read to its end")
		}
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// MaxSmallUpload is the largest file the UI's upload-artifact takes.
const MaxSmallUpload = 10 << 20

// HandleSmallUpload answers the UI's upload-artifact with MLflow's rules: a
// file of 1 byte to 10 MB, answered with an empty JSON response. The body
// is read whole (it is small) and written conditionally unless replace.
func (s *Store) HandleSmallUpload(w http.ResponseWriter, r *http.Request, path string, replace bool) {
	p, err := Parse(path, true)
	if err != nil {
		badPath(w, err)
		return
	}
	if r.ContentLength > MaxSmallUpload {
		WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "Artifact size is too large. Max size is 10MB.")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxSmallUpload+1))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		WriteError(w, http.StatusRequestTimeout, "REQUEST_TIMEOUT", "request body arrived too slowly")
		return
	case err != nil:
		WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "the upload's body could not be read to its end")
		return
	case len(data) == 0:
		WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "Request must specify data.")
		return
	case len(data) > MaxSmallUpload:
		WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "Artifact size is too large. Max size is 10MB.")
		return
	}
	if err := s.Put(r.Context(), p, bytes.NewReader(data), int64(len(data)), ContentType(p.Name()), replace); err != nil {
		s.fail(w, r, err, s.log)
		return
	}
	s.counters.Uploaded.Add(int64(len(data)))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

// HandleDelete answers DELETE mlflow-artifacts/artifacts/<path>: the file,
// or a folder and everything below it, but never an artifacts root itself.
func (s *Store) HandleDelete(w http.ResponseWriter, r *http.Request, path string) {
	p, err := Parse(path, true)
	if err != nil {
		badPath(w, err)
		return
	}
	if err := s.Delete(r.Context(), p); err != nil {
		s.fail(w, r, err, s.log)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// HandlePresigned answers GET mlflow-artifacts/presigned/<path>: a GET URL
// for this one key on the public endpoint, living PresignTTL, whose answer
// S3 is told to send as an attachment of MLflow's type for the name. Without
// a public endpoint it is MLflow's 501, on which the stock client downloads
// through the gate instead.
func (s *Store) HandlePresigned(w http.ResponseWriter, r *http.Request, path string) {
	p, err := Parse(path, true)
	if err != nil {
		badPath(w, err)
		return
	}
	if s.public == nil {
		WriteError(w, http.StatusNotImplemented, "NOT_IMPLEMENTED", "Multipart download is not supported for the current artifact repository")
		return
	}
	info, err := s.s3.StatObject(r.Context(), s.bucket, Key(s.prefix, p), minio.StatObjectOptions{})
	if err != nil {
		s.fail(w, r, s3Error(err), s.log)
		return
	}
	q := url.Values{
		"response-content-type":        {ContentType(p.Name())},
		"response-content-disposition": {attachment(p.Name())},
		"response-cache-control":       {"private, no-store"},
	}
	u, err := s.public.PresignedGetObject(r.Context(), s.bucket, Key(s.prefix, p), s.ttl, q)
	if err != nil {
		s.fail(w, r, err, s.log)
		return
	}
	s.counters.Presigned.Add(1)
	writeJSON(w, http.StatusOK, struct {
		URL      string            `json:"url"`
		Headers  map[string]string `json:"headers"`
		FileSize int64             `json:"file_size"`
	}{u.String(), map[string]string{}, info.Size})
}

// HandleMultipart answers mlflow-artifacts/mpu/{create,complete,abort}/<folder>
// with the file's name in the JSON body (one segment: the stock client sends
// the file's base name). create starts an upload and returns presigned part
// URLs on the public endpoint; complete and abort end it. Without a public
// endpoint all three are MLflow's 501, on which the stock client uploads
// through the gate in one streamed PUT instead.
func (s *Store) HandleMultipart(w http.ResponseWriter, r *http.Request, op MultipartOp, folder string, body []byte, replace bool) {
	dir, err := Parse(folder, false)
	if err != nil {
		badPath(w, err)
		return
	}
	var req struct {
		Path     *string `json:"path"`
		NumParts *int64  `json:"num_parts"`
		UploadID string  `json:"upload_id"`
		Parts    []struct {
			PartNumber int    `json:"part_number"`
			ETag       string `json:"etag"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "the body must be a JSON object with path (and num_parts, upload_id or parts)")
		return
	}
	if req.Path == nil || *req.Path == "" || strings.ContainsAny(*req.Path, "/\\") {
		WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "path must be one file name")
		return
	}
	p, err := Parse(dir.String()+"/"+*req.Path, true)
	if err != nil {
		badPath(w, err)
		return
	}
	ctx := r.Context()
	if !replace && op != MultipartAbort {
		// A caller who may not delete may not replace: refuse before any
		// upload starts, in either mode (complete is also conditional, which
		// is what makes it safe against a file written meanwhile).
		if ok, err := s.Exists(ctx, p); err != nil {
			s.fail(w, r, err, s.log)
			return
		} else if ok {
			s.fail(w, r, ErrExists, s.log)
			return
		}
	}
	if s.public == nil {
		WriteError(w, http.StatusNotImplemented, "NOT_IMPLEMENTED", "Multipart upload is not supported for the current artifact repository")
		return
	}
	key := Key(s.prefix, p)
	core := minio.Core{Client: s.s3}
	switch op {
	case MultipartCreate:
		n := int64(1)
		if req.NumParts != nil {
			n = *req.NumParts
		}
		if n < 1 || n > maxParts {
			WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", fmt.Sprintf("num_parts must be between 1 and %d", maxParts))
			return
		}
		id, err := core.NewMultipartUpload(ctx, s.bucket, key, minio.PutObjectOptions{ContentType: ContentType(p.Name())})
		if err != nil {
			s.fail(w, r, s3Error(err), s.log)
			return
		}
		type credential struct {
			URL        string            `json:"url"`
			PartNumber int64             `json:"part_number"`
			Headers    map[string]string `json:"headers"`
		}
		creds := make([]credential, 0, n)
		for i := int64(1); i <= n; i++ {
			u, err := s.public.Presign(ctx, http.MethodPut, s.bucket, key, s.ttl,
				url.Values{"partNumber": {strconv.FormatInt(i, 10)}, "uploadId": {id}})
			if err != nil {
				_ = core.AbortMultipartUpload(ctx, s.bucket, key, id)
				s.fail(w, r, err, s.log)
				return
			}
			creds = append(creds, credential{URL: u.String(), PartNumber: i, Headers: map[string]string{}})
		}
		s.counters.Presigned.Add(n)
		writeJSON(w, http.StatusOK, struct {
			UploadID    string       `json:"upload_id"`
			Credentials []credential `json:"credentials"`
		}{id, creds})
	case MultipartComplete:
		if req.UploadID == "" || len(req.Parts) == 0 || len(req.Parts) > maxParts {
			WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "complete needs upload_id and parts")
			return
		}
		parts := make([]minio.CompletePart, len(req.Parts))
		for i, pt := range req.Parts {
			parts[i] = minio.CompletePart{PartNumber: pt.PartNumber, ETag: pt.ETag}
		}
		opts := minio.PutObjectOptions{}
		if !replace {
			opts.SetMatchETagExcept("*")
		}
		if _, err := core.CompleteMultipartUpload(ctx, s.bucket, key, req.UploadID, parts, opts); err != nil {
			s.fail(w, r, multipartError(err), s.log)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	case MultipartAbort:
		if req.UploadID == "" {
			WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", "abort needs upload_id")
			return
		}
		if err := core.AbortMultipartUpload(ctx, s.bucket, key, req.UploadID); err != nil {
			s.fail(w, r, multipartError(err), s.log)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	default:
		WriteError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", "no such multipart operation")
	}
}

// MultipartOp is one of the three multipart calls.
type MultipartOp uint8

// Multipart calls.
const (
	MultipartCreate MultipartOp = iota + 1
	MultipartComplete
	MultipartAbort
)

// errUpload: S3 does not know the upload (wrong id, or another key's), or a
// part is missing or wrong: the client's mistake, not the store's.
var errUpload = errors.New("artifacts: no such upload, or its parts do not match")

func multipartError(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall":
		return fmt.Errorf("%w: %w", errUpload, err)
	}
	return s3Error(err)
}

func badPath(w http.ResponseWriter, err error) {
	WriteError(w, http.StatusBadRequest, "INVALID_PARAMETER_VALUE", strings.TrimPrefix(err.Error(), "artifacts: "))
}

// countingWriter counts the body bytes written.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// countingReader counts the bytes read, and keeps the client's read error
// (which S3's client reports only as its own).
type countingReader struct {
	r   io.Reader
	n   *atomic.Int64
	err error
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
