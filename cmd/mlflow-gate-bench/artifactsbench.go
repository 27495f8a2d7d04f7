package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// artifactsThroughput: the budgets put a file streamed through the gate at
// ≥ 0.9 × the speed of the same transfer straight to or from S3, and ≥ 3 ×
// MLflow's own --serve-artifacts proxy. Each size goes, in alternating
// order, directly to S3 (one PUT or GET with minio-go, as the gate sends
// it), through the gate streamed, through the gate presigned (the URL from
// the gate, the bytes to S3), and through MLflow's proxy, on the same files'
// sizes in the same run. Then a 1 GiB file streams through the gate while
// its RSS is sampled.
func artifactsThroughput(ctx context.Context, env *benchEnv) error {
	s3env := func(k string) string { return os.Getenv("MLFLOW_GATE_TEST_S3_" + k) }
	if s3env("ENDPOINT") == "" {
		return errors.New("MLFLOW_GATE_TEST_S3_ENDPOINT is not set: run scripts/bench")
	}
	endpoint := "http://" + s3env("ENDPOINT")
	s3cfg := []string{"MLFLOW_GATE_S3_ENDPOINT=" + endpoint, "MLFLOW_GATE_S3_BUCKET=" + s3env("BUCKET"),
		"MLFLOW_GATE_S3_PREFIX=artifacts", "MLFLOW_GATE_S3_REGION=" + s3env("REGION"),
		"MLFLOW_GATE_S3_ACCESS_KEY=" + s3env("ACCESS_KEY"), "MLFLOW_GATE_S3_SECRET_KEY=" + s3env("SECRET_KEY")}
	s3, err := minio.New(s3env("ENDPOINT"), &minio.Options{Creds: credentials.NewStaticV4(s3env("ACCESS_KEY"), s3env("SECRET_KEY"), ""), Region: s3env("REGION")})
	if err != nil {
		return err
	}
	db, err := env.database(ctx)
	if err != nil {
		return err
	}
	streamed, err := env.startGate(db, s3cfg...)
	if err != nil {
		return err
	}
	defer streamed.stop()
	if _, err := streamed.waitReady("/readyz", 60*time.Second); err != nil {
		return err
	}
	presigned, err := env.startGate(db, append(s3cfg, "MLFLOW_GATE_S3_PUBLIC_ENDPOINT="+endpoint)...)
	if err != nil {
		return err
	}
	defer presigned.stop()
	if _, err := presigned.waitReady("/readyz", 60*time.Second); err != nil {
		return err
	}
	_, pat, err := env.benchUser(ctx, db, "bench")
	if err != nil {
		return err
	}
	runID, err := createRun(ctx, streamed.url, pat)
	if err != nil {
		return err
	}
	root := "0/" + runID + "/artifacts"
	defer func() { // the bench's files go with it
		for o := range s3.ListObjects(context.Background(), s3env("BUCKET"), minio.ListObjectsOptions{Prefix: "artifacts/" + root + "/", Recursive: true}) {
			_ = s3.RemoveObject(context.Background(), s3env("BUCKET"), o.Key, minio.RemoveObjectOptions{})
		}
	}()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8, WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10}}
	bt := &transfers{client: client, s3: s3, bucket: s3env("BUCKET"), root: root, pat: pat}
	paths := []transferPath{
		{"S3 directly", bt.direct, bt.directGet},
		{"gate, streamed", bt.viaHTTP(streamed.url, pat), bt.getHTTP(streamed.url, pat)},
		{"gate, presigned", bt.presignedPut(presigned.url), bt.presignedGet(presigned.url)},
		{"MLflow proxy", bt.viaHTTP(env.mlflowURL, ""), bt.getHTTP(env.mlflowURL, "")},
	}
	sizes := []struct {
		name  string
		bytes int64
		iters int
	}{{"1 MiB", 1 << 20, 60}, {"256 MiB", 256 << 20, 4}}
	fmt.Printf("S3: the rig's versitygw at %s; MLflow %s at %s (--serve-artifacts, one worker). After a warm-up round,\n"+
		"%d rounds of 1 MiB and %d of 256 MiB: each round uploads one new file along every path, then downloads it,\n"+
		"path after path, each round starting with the next path; figures are the median round.\n\n",
		endpoint, mlflowVersion(env.mlflowURL), env.mlflowURL, sizes[0].iters, sizes[1].iters)
	fmt.Println("| size | direction | path | MB/s (median) | min–max MB/s |")
	fmt.Println("|---|---|---|---|---|")
	var verdicts []string
	for _, sz := range sizes {
		up := make([][]time.Duration, len(paths))
		down := make([][]time.Duration, len(paths))
		for i := range sz.iters + 1 { // round 0 warms up
			for k := range paths {
				p := (i + k) % len(paths) // each round starts with the next path: no path always goes first
				tp := paths[p]
				name := fmt.Sprintf("bench-%d-%d-%d.bin", sz.bytes, i, p)
				sum, d, err := tp.put(ctx, name, sz.bytes)
				if err != nil {
					return fmt.Errorf("%s upload of %s: %w", tp.name, sz.name, err)
				}
				got, dd, err := tp.get(ctx, name)
				if err != nil {
					return fmt.Errorf("%s download of %s: %w", tp.name, sz.name, err)
				}
				if got != sum {
					return fmt.Errorf("%s: %s came back different", tp.name, sz.name)
				}
				if i > 0 {
					up[p], down[p] = append(up[p], d), append(down[p], dd)
				}
			}
		}
		for _, dir := range []struct {
			name string
			ds   [][]time.Duration
		}{{"upload", up}, {"download", down}} {
			rate := make([]float64, len(paths))
			for p, tp := range paths {
				med, lo, hi := mbps(sz.bytes, dir.ds[p])
				rate[p] = med
				fmt.Printf("| %s | %s | %s | %.0f | %.0f–%.0f |\n", sz.name, dir.name, tp.name, med, lo, hi)
			}
			verdicts = append(verdicts, fmt.Sprintf("| %s %s | %.2f | %s | %.1f | %s | %.2f |", sz.name, dir.name,
				rate[1]/rate[0], yesNo(rate[1] >= 0.9*rate[0]), rate[1]/rate[3], yesNo(rate[1] >= 3*rate[3]), rate[2]/rate[0]))
		}
	}
	fmt.Println()
	fmt.Println("| transfer | streamed ÷ direct (≥ 0.9) | within | streamed ÷ MLflow (≥ 3) | within | presigned ÷ direct |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, v := range verdicts {
		fmt.Println(v)
	}

	// Peak RSS while 1 GiB streams through the gate each way.
	pid := streamed.cmd.Process.Pid
	idle, err := rssKiB(pid)
	if err != nil {
		return err
	}
	peak := func(f func() error) (int, error) {
		var max atomic.Int64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if kib, err := rssKiB(pid); err == nil && int64(kib) > max.Load() {
					max.Store(int64(kib))
				}
				select {
				case <-done:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		err := f()
		close(done)
		wg.Wait()
		return int(max.Load()), err
	}
	var sum [32]byte
	upPeak, err := peak(func() error {
		var err error
		sum, _, err = paths[1].put(ctx, "bench-1GiB.bin", 1<<30)
		return err
	})
	if err != nil {
		return fmt.Errorf("1 GiB upload: %w", err)
	}
	var got [32]byte
	downPeak, err := peak(func() error {
		var err error
		got, _, err = paths[1].get(ctx, "bench-1GiB.bin")
		return err
	})
	if err != nil {
		return fmt.Errorf("1 GiB download: %w", err)
	}
	if got != sum {
		return errors.New("the 1 GiB file came back different")
	}
	fmt.Printf("\n| gate RSS, 1 GiB streamed | MB |\n|---|---|\n| idle before | %.1f |\n| peak during upload | %.1f |\n| peak during download | %.1f |\n",
		float64(idle)/1024, float64(upPeak)/1024, float64(downPeak)/1024)
	return nil
}

type transferPath struct {
	name string
	put  func(ctx context.Context, name string, size int64) ([32]byte, time.Duration, error)
	get  func(ctx context.Context, name string) ([32]byte, time.Duration, error)
}

type transfers struct {
	client *http.Client
	s3     *minio.Client
	bucket string
	root   string
	pat    string
}

// body is size bytes of a random 1 MiB block repeated, and its checksum.
func body(size int64) (io.Reader, [32]byte) {
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	h := sha256.New()
	for left := size; left > 0; left -= int64(len(block)) {
		h.Write(block[:min(left, int64(len(block)))])
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return io.LimitReader(&cycle{b: block}, size), sum
}

type cycle struct {
	b   []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := copy(p, c.b[c.off:])
	c.off = (c.off + n) % len(c.b)
	return n, nil
}

func hashAll(r io.Reader) ([32]byte, error) {
	h := sha256.New()
	var sum [32]byte
	if _, err := io.CopyBuffer(h, r, make([]byte, 256<<10)); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func (t *transfers) key(name string) string { return "artifacts/" + t.root + "/" + name }

func (t *transfers) direct(ctx context.Context, name string, size int64) ([32]byte, time.Duration, error) {
	r, sum := body(size)
	start := time.Now()
	_, err := t.s3.PutObject(ctx, t.bucket, t.key(name), r, size, minio.PutObjectOptions{DisableMultipart: true})
	return sum, time.Since(start), err
}

func (t *transfers) directGet(ctx context.Context, name string) ([32]byte, time.Duration, error) {
	start := time.Now()
	obj, err := t.s3.GetObject(ctx, t.bucket, t.key(name), minio.GetObjectOptions{})
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer obj.Close()
	sum, err := hashAll(obj)
	return sum, time.Since(start), err
}

func (t *transfers) do(req *http.Request, pat string) (*http.Response, error) {
	if pat != "" {
		req.Header.Set("Authorization", "Bearer "+pat)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return resp, nil
}

func (t *transfers) viaHTTP(base, pat string) func(ctx context.Context, name string, size int64) ([32]byte, time.Duration, error) {
	return func(ctx context.Context, name string, size int64) ([32]byte, time.Duration, error) {
		r, sum := body(size)
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/api/2.0/mlflow-artifacts/artifacts/"+t.root+"/"+name, r)
		req.ContentLength = size
		resp, err := t.do(req, pat)
		if err != nil {
			return sum, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return sum, time.Since(start), nil
	}
}

func (t *transfers) getHTTP(base, pat string) func(ctx context.Context, name string) ([32]byte, time.Duration, error) {
	return func(ctx context.Context, name string) ([32]byte, time.Duration, error) {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/2.0/mlflow-artifacts/artifacts/"+t.root+"/"+name, nil)
		resp, err := t.do(req, pat)
		if err != nil {
			return [32]byte{}, 0, err
		}
		defer resp.Body.Close()
		sum, err := hashAll(resp.Body)
		return sum, time.Since(start), err
	}
}

// presignedPut is the stock client's multipart upload: mpu/create, the
// parts PUT to their URLs (at most 4 at a time, as the client's pool), then
// mpu/complete. Parts are 64 MiB, the last one shorter.
func (t *transfers) presignedPut(base string) func(ctx context.Context, name string, size int64) ([32]byte, time.Duration, error) {
	return func(ctx context.Context, name string, size int64) ([32]byte, time.Duration, error) {
		const part = 64 << 20
		r, sum := body(size)
		data, err := io.ReadAll(r) // the client reads parts from a file; here from memory, outside the timing
		if err != nil {
			return sum, 0, err
		}
		n := (size + part - 1) / part
		start := time.Now()
		call := func(op string, v any) (*http.Response, error) {
			b, _ := json.Marshal(v)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/2.0/mlflow-artifacts/mpu/"+op+"/"+t.root, bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/json")
			return t.do(req, t.pat)
		}
		resp, err := call("create", map[string]any{"path": name, "num_parts": n})
		if err != nil {
			return sum, 0, err
		}
		var created struct {
			UploadID    string `json:"upload_id"`
			Credentials []struct {
				URL        string `json:"url"`
				PartNumber int    `json:"part_number"`
			} `json:"credentials"`
		}
		err = json.NewDecoder(resp.Body).Decode(&created)
		resp.Body.Close()
		if err != nil || int64(len(created.Credentials)) != n {
			return sum, 0, fmt.Errorf("mpu/create: %v (%d credentials)", err, len(created.Credentials))
		}
		type done struct {
			PartNumber int    `json:"part_number"`
			ETag       string `json:"etag"`
		}
		parts := make([]done, n)
		errs := make(chan error, n)
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for i, c := range created.Credentials {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				lo, hi := int64(i)*part, min(int64(i+1)*part, size)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPut, c.URL, bytes.NewReader(data[lo:hi]))
				resp, err := t.do(req, "")
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				parts[i] = done{c.PartNumber, resp.Header.Get("ETag")}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return sum, 0, err
		}
		resp, err = call("complete", map[string]any{"path": name, "upload_id": created.UploadID, "parts": parts})
		if err != nil {
			return sum, 0, err
		}
		resp.Body.Close()
		return sum, time.Since(start), nil
	}
}

// presignedGet asks the gate for the URL, then reads the file from S3.
func (t *transfers) presignedGet(base string) func(ctx context.Context, name string) ([32]byte, time.Duration, error) {
	return func(ctx context.Context, name string) ([32]byte, time.Duration, error) {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/2.0/mlflow-artifacts/presigned/"+t.root+"/"+name, nil)
		resp, err := t.do(req, t.pat)
		if err != nil {
			return [32]byte{}, 0, err
		}
		var pre struct {
			URL string `json:"url"`
		}
		err = json.NewDecoder(resp.Body).Decode(&pre)
		resp.Body.Close()
		if err != nil || !strings.HasPrefix(pre.URL, "http") {
			return [32]byte{}, 0, fmt.Errorf("presigned: %v %q", err, pre.URL)
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodGet, pre.URL, nil)
		if resp, err = t.do(req, ""); err != nil {
			return [32]byte{}, 0, err
		}
		defer resp.Body.Close()
		sum, err := hashAll(resp.Body)
		return sum, time.Since(start), err
	}
}

// mbps is the median, lowest and highest rate of the transfers, in MB/s.
func mbps(size int64, ds []time.Duration) (med, lo, hi float64) {
	r := make([]float64, len(ds))
	for i, d := range ds {
		r[i] = float64(size) / 1e6 / d.Seconds()
	}
	sort.Float64s(r)
	return r[len(r)/2], r[0], r[len(r)-1]
}
