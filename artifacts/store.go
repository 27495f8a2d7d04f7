package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

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
}

// Store reads and writes the artifact destination with standard S3 calls only
// (minio-go), so MinIO, AWS S3 and versitygw all serve it.
type Store struct {
	s3     *minio.Client
	bucket string
	prefix string
}

// ErrNotFound: no such file (404).
var ErrNotFound = errors.New("artifacts: no such artifact")

// ErrExists: a write that may not replace found the file there (S3 refused
// the conditional write).
var ErrExists = errors.New("artifacts: the artifact exists")

// New checks cfg and makes the client; it does not call S3 (Ping does).
func New(cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("artifacts: the S3 endpoint must be http(s)://host[:port], got %q", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("artifacts: no bucket")
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: region, // known: no GetBucketLocation round trip
	})
	if err != nil {
		return nil, fmt.Errorf("artifacts: %w", err)
	}
	return &Store{s3: c, bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/")}, nil
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
	if _, err := s.s3.PutObject(ctx, s.bucket, Key(s.prefix, p), body, size, opts); err != nil {
		return s3Error(err)
	}
	return nil
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
