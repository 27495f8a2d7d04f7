package admin

import (
	"context"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// AuditLog lists audit records matching f, newest first, a page at a time:
// before is the id of the last record of the previous page (0 for the
// first). It reports whether older records follow.
func (s *Service) AuditLog(ctx context.Context, a Actor, f storage.AuditFilter, before int64, limit int) ([]storage.AuditRecord, bool, error) {
	if err := s.authorize(ctx, a); err != nil {
		return nil, false, err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return nil, false, Errorf(EInvalid, "the start of the time range must be before its end")
	}
	recs, more, err := s.st.SearchAudit(ctx, f, before, limit)
	return recs, more, classify(err)
}
