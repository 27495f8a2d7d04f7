package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/mlflow-gate/mlflow-gate/authz"
)

// OwnerSink records the creator of an experiment or a registered model as
// its owner (level manage) and returns once the grants in force include it,
// so that the creator's next call finds it.
type OwnerSink interface {
	RecordOwner(ctx context.Context, user string, kind authz.GrantKind, resource string) error
}

// errOwnerNotRecorded: MLflow created the resource but the gate could not
// record its owner (502). The resource exists; an administrator can grant it.
var errOwnerNotRecorded = errors.New("proxy: the created resource's owner could not be recorded")

// recordOwner reads the id of what MLflow just created from its answer and
// records the caller as its owner before the caller sees the answer. A
// create MLflow refused never gets here (only 200s do).
func (g *Gate) recordOwner(c *call, resp *http.Response) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCreatedRun+1))
	_ = resp.Body.Close()
	if err != nil || len(b) > maxCreatedRun || resp.Header.Get("Content-Encoding") != "" {
		return fmt.Errorf("%w: reading MLflow's answer: %v", errOwnerNotRecorded, err)
	}
	var created struct {
		ExperimentID string `json:"experiment_id"`
		Model        struct {
			Name string `json:"name"`
		} `json:"registered_model"`
	}
	_ = json.Unmarshal(b, &created)
	kind, id := authz.GrantExperiment, created.ExperimentID
	if c.creates == authz.KindRegisteredModelCreate {
		kind, id = authz.GrantRegisteredModel, created.Model.Name
	}
	if id == "" {
		return fmt.Errorf("%w: MLflow's answer names nothing created", errOwnerNotRecorded)
	}
	ctx := resp.Request.Context()
	for attempt := 0; ; attempt++ {
		err = g.owners.RecordOwner(ctx, c.principal.Username, kind, id)
		if err == nil || attempt == 2 || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
	if err != nil {
		g.log.LogAttrs(ctx, slog.LevelError, "owner of a created resource not recorded",
			slog.String("kind", kind.String()), slog.String("resource", id), slog.String("user", c.principal.Username),
			slog.String("error", err.Error()))
		return fmt.Errorf("%w: %w", errOwnerNotRecorded, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.TransferEncoding = nil
	return nil
}
