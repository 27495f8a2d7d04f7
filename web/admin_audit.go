package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerAudit wires the admin page for the audit log.
func (s *Server) registerAudit() {
	s.handle("GET /gate/admin/audit", s.auditPage)
}

const auditPerPage = 100

// auditTimeLayout is what an <input type="datetime-local"> sends.
const auditTimeLayout = "2006-01-02T15:04"

type auditRow struct {
	storage.AuditRecord
	RequestID, IDs, Credential string
}

type auditView struct {
	Rows  []auditRow
	Older string // the next page's link, "" on the last
}

// auditFilter reads the filter form; a message says what is wrong with it.
func auditFilter(q url.Values) (storage.AuditFilter, int64, string) {
	f := storage.AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), ClientID: strings.TrimSpace(q.Get("client")),
		Decision: q.Get("decision"), Method: strings.ToUpper(strings.TrimSpace(q.Get("method"))),
		Route: strings.TrimSpace(q.Get("route")), Resource: strings.TrimSpace(q.Get("resource")), Action: strings.TrimSpace(q.Get("action"))}
	for _, v := range []string{f.Actor, f.ClientID, f.Method, f.Route, f.Resource, f.Action} {
		if len(v) > 300 {
			return f, 0, "A filter may be at most 300 characters."
		}
	}
	if f.Decision != "" && f.Decision != "allow" && f.Decision != "deny" {
		return f, 0, "The decision is allow or deny."
	}
	if s := strings.TrimSpace(q.Get("status")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 || n > 599 {
			return f, 0, "The status is an HTTP status code, such as 403."
		}
		f.Status = n
	}
	for _, t := range []struct {
		name, label string
		to          *time.Time
	}{{"from", "From", &f.From}, {"to", "To", &f.To}} {
		if s := strings.TrimSpace(q.Get(t.name)); s != "" {
			v, err := time.ParseInLocation(auditTimeLayout, s, time.UTC)
			if err != nil {
				return f, 0, t.label + " is a date and time such as 2026-12-01T09:30 (UTC)."
			}
			*t.to = v
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, 0, "From must be before To."
	}
	var before int64
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return f, 0, "That page link is broken: start again from the first page."
		}
		before = n
	}
	return f, before, ""
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, v *visit) {
	v.Section = "admin"
	q := r.URL.Query()
	p := page{V: v, Title: "Audit log", Form: q}
	f, before, msg := auditFilter(q)
	if msg != "" {
		p.Error = msg
		s.render(w, r, http.StatusBadRequest, "admin_audit", p)
		return
	}
	recs, more, err := s.cfg.Admin.AuditLog(r.Context(), v.actor(), f, before, auditPerPage)
	if err != nil {
		st, m := s.failure(r, err)
		p.Error = m
		s.render(w, r, st, "admin_audit", p)
		return
	}
	view := auditView{Rows: make([]auditRow, len(recs))}
	for i, rec := range recs {
		row := auditRow{AuditRecord: rec}
		if d := rec.Detail; d != nil {
			row.RequestID, _ = d["request_id"].(string)
			row.Credential, _ = d["credential"].(string)
			if ids, ok := d["ids"].(map[string]any); ok {
				var parts []string
				for kind, vals := range ids {
					if list, ok := vals.([]any); ok {
						for _, x := range list {
							if s, ok := x.(string); ok {
								parts = append(parts, kind+" "+s)
							}
						}
					}
				}
				row.IDs = strings.Join(parts, ", ")
			}
		}
		view.Rows[i] = row
	}
	if more {
		next := url.Values{}
		for k, vs := range q {
			if k != "before" {
				next[k] = vs
			}
		}
		next.Set("before", strconv.FormatInt(recs[len(recs)-1].ID, 10))
		view.Older = "/gate/admin/audit?" + next.Encode()
	}
	p.Data = view
	s.render(w, r, http.StatusOK, "admin_audit", p)
}
