package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says where MLflow's artifact destination is. Endpoint and bucket come
// from the gate's configuration only, never from anything MLflow stores.
type Config struct {
	Endpoint  string // http(s)://host[:port]
	Bucket    string
	Prefix    string // key prefix inside the bucket ("artifacts" for s3://bucket/artifacts)
	Region    string // "" means us-east-1
	AccessKey string
	SecretKey string
	// PublicEndpoint is the S3 endpoint as clients reach it (it may differ
	// from Endpoint, which the gate uses). Set, presigned downloads and
	// multipart uploads hand out URLs on it; "": every byte streams through
	// the gate and the multipart calls answer 501.
	PublicEndpoint string
	PresignTTL     time.Duration // how long a presigned URL lives; 0: MaxPresignTTL
	Logger         *slog.Logger  // where store failures are told; nil: nowhere
}

// MaxPresignTTL is the longest life of a presigned URL: long enough for one
// part or one download to start, short enough that a leaked URL is soon
// worthless.
const MaxPresignTTL = 5 * time.Minute

// Store reads and writes the artifact destination with standard S3 calls only
// (minio-go), so MinIO, AWS S3 and versitygw all serve it.
type Store struct {
	s3       *minio.Client
	public   *minio.Client // signs URLs for clients; nil: no presigned URLs
	ttl      time.Duration
	bucket   string
	prefix   string
	log      *slog.Logger
	counters Counters
}

// Counters are the store's byte and URL counts since it was made.
func (s *Store) Counters() *Counters { return &s.counters }

// ErrNotFound: no such file (404).
var ErrNotFound = errors.New("artifacts: no such artifact")

// ErrExists: a write that may not replace found the file there (S3 refused
// the conditional write).
var ErrExists = errors.New("artifacts: the artifact exists")

// New checks cfg and makes the client; it does not call S3 (Ping does).
func New(cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("artifacts: no bucket")
	}
	c, err := client(cfg.Endpoint, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{s3: c, bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/"), ttl: cfg.PresignTTL, log: cfg.Logger}
	if s.ttl <= 0 || s.ttl > MaxPresignTTL {
		s.ttl = MaxPresignTTL
	}
	if cfg.PublicEndpoint != "" {
		if s.public, err = client(cfg.PublicEndpoint, cfg); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Presigns reports whether the store hands out presigned URLs.
func (s *Store) Presigns() bool { return s.public != nil }

func client(endpoint string, cfg Config) (*minio.Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("artifacts: an S3 endpoint must be http(s)://host[:port], got %q", endpoint)
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: region, // known: no GetBucketLocation round trip, and presigning is local
	})
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	return c, nil
}

// Ping checks that the bucket is there and the credentials open it.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.s3.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("artifacts: bucket %s: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("artifacts: bucket %s does not exist", s.bucket)
	}
	return nil
}

// FileInfo is one entry of a listing, as MLflow's artifact proxy answers it:
// the name within the folder, and the size of files.
type FileInfo struct {
	Path  string `json:"path"`
	IsDir bool   `json:"is_dir"`
	Size  *int64 `json:"file_size,omitempty"`
}

// List is the folder's direct entries sorted by name, as MLflow's S3
// repository lists them (a folder is a common prefix; a folder's own marker
// object is not an entry). A file or a missing folder lists nothing.
func (s *Store) List(ctx context.Context, p Path) ([]FileInfo, error) {
	prefix := Key(s.prefix, p) + "/" // 1/ never lists 10/
	var out []FileInfo
	for o := range s.s3.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if o.Err != nil {
			return nil, fmt.Errorf("artifacts: listing: %w", o.Err)
		}
		name := strings.TrimPrefix(o.Key, prefix)
		switch {
		case name == "":
			continue
		case strings.HasSuffix(name, "/"):
			out = append(out, FileInfo{Path: strings.TrimSuffix(name, "/"), IsDir: true})
		default:
			size := o.Size
			out = append(out, FileInfo{Path: name, Size: &size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Open is the file for reading, with its size, ETag and time; the object
// fetches ranges as it is read or seeked (so http.ServeContent serves Range
// and HEAD from it without reading more than asked).
func (s *Store) Open(ctx context.Context, p Path) (*minio.Object, minio.ObjectInfo, error) {
	obj, err := s.s3.GetObject(ctx, s.bucket, Key(s.prefix, p), minio.GetObjectOptions{})
	if err != nil {
		return nil, minio.ObjectInfo{}, s3Error(err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, minio.ObjectInfo{}, s3Error(err)
	}
	return obj, info, nil
}

// Exists says whether the file is there.
func (s *Store) Exists(ctx context.Context, p Path) (bool, error) {
	_, err := s.s3.StatObject(ctx, s.bucket, Key(s.prefix, p), minio.StatObjectOptions{})
	if err == nil {
		return true, nil
	}
	if err = s3Error(err); errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return false, err
}

// singlePutMax is S3's largest single PUT.
const singlePutMax = 5 << 30

// Put stores body as the file. With a known size up to 5 GiB it is one
// streamed PUT (nothing buffered); otherwise a multipart upload that holds one
// part in memory at a time: minio-go's size for a known length (16 MiB up to
// 156 GiB), 16 MiB for an unknown one (which caps it at 156 GiB, where
// minio-go's own choice would buffer 560 MiB per upload). Unless replace, the write is conditional
// (If-None-Match: *): S3 refuses it atomically when the file exists
// (ErrExists), so two writers racing for a new name cannot both win.
func (s *Store) Put(ctx context.Context, p Path, body io.Reader, size int64, contentType string, replace bool) error {
	opts := minio.PutObjectOptions{ContentType: contentType, DisableMultipart: size >= 0 && size <= singlePutMax}
	if size < 0 {
		opts.PartSize = 16 << 20
	}
	if !replace {
		opts.SetMatchETagExcept("*")
	}
	_, err := s.s3.PutObject(ctx, s.bucket, Key(s.prefix, p), body, size, opts)
	if err == nil {
		return nil
	}
	if !replace && minio.ToErrorResponse(err).Code == "" && ctx.Err() == nil {
		// S3 may refuse a conditional write as soon as it has the headers and
		// close the connection while the body is still being sent: the client
		// then sees a broken pipe, not the 412. A file that is there now is
		// that refusal (or a writer that won the race: refused alike).
		if ok, serr := s.Exists(ctx, p); serr == nil && ok {
			return fmt.Errorf("%w: %w", ErrExists, err)
		}
	}
	return s3Error(err)
}

// Delete removes the file, or everything below it when it is a folder, as
// MLflow's delete_artifacts does; it never goes above p.
func (s *Store) Delete(ctx context.Context, p Path) error {
	key := Key(s.prefix, p)
	objs := make(chan minio.ObjectInfo)
	var listErr error
	go func() {
		defer close(objs)
		objs <- minio.ObjectInfo{Key: key}
		for o := range s.s3.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: key + "/", Recursive: true}) {
			if o.Err != nil {
				listErr = o.Err
				return
			}
			objs <- minio.ObjectInfo{Key: o.Key}
		}
	}()
	for e := range s.s3.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && minio.ToErrorResponse(e.Err).Code != "NoSuchKey" {
			for range objs { // let the lister finish
			}
			return fmt.Errorf("artifacts: deleting %s: %w", e.ObjectName, e.Err)
		}
	}
	if listErr != nil {
		return fmt.Errorf("artifacts: listing for delete: %w", listErr)
	}
	return nil
}

func s3Error(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case "PreconditionFailed":
		return fmt.Errorf("%w: %w", ErrExists, err)
	}
	return fmt.Errorf("artifacts: %w", err)
}
