package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mlflow-gate/mlflow-gate/artifacts"
	"github.com/mlflow-gate/mlflow-gate/authz"
	"github.com/mlflow-gate/mlflow-gate/proxy"
)

// openArtifacts is the artifact store when MLFLOW_GATE_S3_ENDPOINT is set
// (nil otherwise: MLflow serves artifact bytes). A bucket that does not
// answer at start-up is a warning, not a failure: S3 may come up after the
// gate, and until it does artifact calls get 502 and /readyz says so.
func openArtifacts(ctx context.Context, cfg *Config, log *slog.Logger, reg *prometheus.Registry) (*artifacts.Store, error) {
	if cfg.S3Endpoint == "" {
		log.Warn("no MLFLOW_GATE_S3_ENDPOINT: artifact bytes pass through MLflow's process, with MLflow's credentials")
		return nil, nil
	}
	s, err := artifacts.New(artifacts.Config{
		Endpoint: cfg.S3Endpoint, Bucket: cfg.S3Bucket, Prefix: cfg.S3Prefix, Region: cfg.S3Region,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey,
		PublicEndpoint: cfg.S3PublicEndpoint, PresignTTL: cfg.S3PresignTTL, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	go func() { // in the background: a missing S3 must not hold up the start
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := s.Ping(pctx); err != nil && ctx.Err() == nil {
			log.Warn("the artifact bucket does not answer yet; artifact calls get 502 until it does (see /readyz)", "error", err.Error())
		}
	}()
	mode := "streamed through the gate"
	if s.Presigns() {
		mode = "presigned on " + cfg.S3PublicEndpoint
	}
	log.Info("artifacts served from the bucket", "bucket", cfg.S3Bucket, "prefix", cfg.S3Prefix, "mode", mode)
	c := s.Counters()
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mlflow_gate_artifact_bytes_downloaded_total",
			Help: "Artifact bytes the gate streamed from the bucket to clients."}, func() float64 { return float64(c.Downloaded.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mlflow_gate_artifact_bytes_uploaded_total",
			Help: "Artifact bytes the gate streamed from clients to the bucket (presigned parts go to S3 directly)."}, func() float64 { return float64(c.Uploaded.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mlflow_gate_artifact_presigned_urls_total",
			Help: "Presigned artifact URLs handed out (downloads and upload parts)."}, func() float64 { return float64(c.Presigned.Load()) }),
	)
	return s, nil
}

// artifactServer adapts the store to the proxy's ArtifactStore.
type artifactServer struct{ s *artifacts.Store }

var _ proxy.ArtifactStore = artifactServer{}

func (a artifactServer) ServeArtifact(w http.ResponseWriter, r *http.Request, c proxy.ArtifactCall) {
	switch c.Op {
	case authz.StoreList:
		a.s.HandleList(w, r, c.Path)
	case authz.StoreRootList:
		a.s.HandleRunList(w, r, c.Path, c.Rel, c.RootURI)
	case authz.StoreDownload:
		a.s.HandleDownload(w, r, c.Path)
	case authz.StoreUpload:
		a.s.HandleUpload(w, r, c.Path, c.Replace)
	case authz.StoreRootUpload:
		a.s.HandleSmallUpload(w, r, c.Path, c.Replace)
	case authz.StoreDelete:
		a.s.HandleDelete(w, r, c.Path)
	case authz.StorePresignedDownload:
		a.s.HandlePresigned(w, r, c.Path)
	case authz.StoreMultipartCreate:
		a.s.HandleMultipart(w, r, artifacts.MultipartCreate, c.Path, c.Body, c.Replace)
	case authz.StoreMultipartComplete:
		a.s.HandleMultipart(w, r, artifacts.MultipartComplete, c.Path, c.Body, c.Replace)
	case authz.StoreMultipartAbort:
		a.s.HandleMultipart(w, r, artifacts.MultipartAbort, c.Path, c.Body, c.Replace)
	default:
		artifacts.WriteError(w, http.StatusNotFound, "ENDPOINT_NOT_FOUND", "no such artifact operation")
	}
}

// checkArtifactRoot warns when MLflow would hand clients artifact locations
// that do not go through the gate: its default experiment's location is
// where new experiments' artifacts go, and it must be mlflow-artifacts:/
// (MLflow started with --serve-artifacts, --artifacts-destination on the
// gate's bucket and prefix, and the default mlflow-artifacts:/ root).
func checkArtifactRoot(ctx context.Context, client *http.Client, base string, cfg *Config, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/2.0/mlflow/experiments/get?experiment_id=0", nil)
	resp, err := client.Do(req)
	if err != nil {
		return // reported by the version check
	}
	defer resp.Body.Close()
	var got struct {
		Experiment struct {
			ArtifactLocation string `json:"artifact_location"`
		} `json:"experiment"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&got) != nil {
		return // no default experiment (deleted, or workspaces): nothing to compare
	}
	loc := got.Experiment.ArtifactLocation
	if strings.HasPrefix(loc, "mlflow-artifacts:") || cfg.MLflowWorkspaces {
		return
	}
	dest := "s3://" + cfg.S3Bucket
	if p := strings.Trim(cfg.S3Prefix, "/"); p != "" {
		dest += "/" + p
	}
	log.Warn("MLFLOW'S ARTIFACT ROOT BYPASSES THE GATE: clients are told to reach artifacts at "+loc+
		" themselves, with storage credentials of their own; start MLflow with --serve-artifacts --artifacts-destination "+dest+
		" and without --default-artifact-root", "artifact_location", loc)
}
