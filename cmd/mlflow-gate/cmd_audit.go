package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mlflow-gate/mlflow-gate/admin"
	"github.com/mlflow-gate/mlflow-gate/storage"
)

// auditPage is the most records one query reads; larger --limit values page.
const auditPage = 500

func auditCommand() *command {
	var f auditFlags
	return &command{name: "audit", short: "read the audit log", commands: []*command{
		{name: "list", short: "list audit records, newest first, with filters", group: "db", nargs: 0,
			long: "List audit records, newest first: administrative changes (by user, or cli for the command line),\n" +
				"the MLflow requests the gate decided (writes, deletes and denials; reads too with\n" +
				"MLFLOW_GATE_AUDIT_READS), and per-minute summaries of bad credentials (action auth.failures).\n" +
				"Filters combine; --action and --route take a prefix ending in * (--action 'mlflow.*').\n" +
				"--since and --until take a time (2026-12-01, 2026-12-01T09:30 in UTC, or RFC 3339) or a\n" +
				"duration back from now (90m, 24h, 7d). When older records follow, the last line says how to\n" +
				"read on (--before ID).",
			flags: f.bind,
			action: func(ctx context.Context, e *cli, _ *opts, _ []string) error {
				filter, err := f.filter(time.Now())
				if err != nil {
					return err
				}
				return withAdmin(ctx, e, func(ad *admin.Service) error {
					recs, more, err := readAudit(ctx, ad, filter, f.before, f.limit)
					if err != nil {
						return err
					}
					if f.json {
						err = writeAuditJSON(e.stdout, recs)
					} else {
						err = writeAuditTable(e.stdout, recs)
					}
					if err == nil && more {
						fmt.Fprintf(e.stderr, "older records follow: add --before %d\n", recs[len(recs)-1].ID)
					}
					return err
				})
			}},
	}}
}

// auditFlags are audit list's filters as typed.
type auditFlags struct {
	actor, client, action, resource, route, method, decision string
	since, until                                             string
	status, limit                                            int
	before                                                   int64
	json                                                     bool
}

func (f *auditFlags) bind(fs *flag.FlagSet, _ *opts) {
	fs.StringVar(&f.actor, "actor", "", "only records by this user (cli: the command line; mlflow-gate: first start)")
	fs.StringVar(&f.client, "client", "", "only records of this OpenID client")
	fs.StringVar(&f.action, "action", "", "only this action (user.create, mlflow.delete, ...), or a prefix ending in *")
	fs.StringVar(&f.resource, "resource", "", "only records about this resource (user:alice, client:trainer, or an MLflow id such as a run's)")
	fs.StringVar(&f.route, "route", "", "only MLflow requests on this route (POST /api/2.0/mlflow/runs/delete), or a prefix ending in *")
	fs.StringVar(&f.method, "method", "", "only MLflow requests with this HTTP method")
	fs.StringVar(&f.decision, "decision", "", "only allow or deny")
	fs.IntVar(&f.status, "status", 0, "only records with this HTTP status (403)")
	fs.StringVar(&f.since, "since", "", "only records at or after this time, or this long ago (24h, 7d)")
	fs.StringVar(&f.until, "until", "", "only records before this time, or this long ago")
	fs.IntVar(&f.limit, "limit", 100, "at most this many records (up to 10000)")
	fs.Int64Var(&f.before, "before", 0, "only records older than the one with this id (to read on)")
	fs.BoolVar(&f.json, "json", false, "one JSON object per record and line, with every field")
}

// filter checks the flags and builds the storage filter; now anchors durations.
func (f *auditFlags) filter(now time.Time) (storage.AuditFilter, error) {
	out := storage.AuditFilter{Actor: f.actor, ClientID: f.client, Action: f.action, Resource: f.resource,
		Route: f.route, Method: strings.ToUpper(f.method), Decision: f.decision, Status: f.status}
	if f.decision != "" && f.decision != "allow" && f.decision != "deny" {
		return out, usageError(fmt.Sprintf("--decision is allow or deny, not %q", f.decision))
	}
	if f.status != 0 && (f.status < 100 || f.status > 599) {
		return out, usageError(fmt.Sprintf("--status is an HTTP status code such as 403, not %d", f.status))
	}
	if f.limit < 1 || f.limit > 10000 {
		return out, usageError(fmt.Sprintf("--limit is between 1 and 10000, not %d", f.limit))
	}
	if f.before < 0 {
		return out, usageError("--before is a record id from an earlier list")
	}
	var err error
	if out.From, err = auditTime("--since", f.since, now); err != nil {
		return out, err
	}
	if out.To, err = auditTime("--until", f.until, now); err != nil {
		return out, err
	}
	if !out.From.IsZero() && !out.To.IsZero() && !out.From.Before(out.To) {
		return out, usageError("--since must be before --until")
	}
	return out, nil
}

// auditTime reads a time or a duration back from now; "" is no bound.
func auditTime(name, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError(fmt.Sprintf("%s %q is neither a time (2026-12-01, 2026-12-01T09:30 in UTC, RFC 3339) nor a duration back from now (90m, 24h, 7d)", name, s))
}

// readAudit reads up to limit records, a page at a time, and whether older
// ones follow.
func readAudit(ctx context.Context, ad *admin.Service, f storage.AuditFilter, before int64, limit int) ([]storage.AuditRecord, bool, error) {
	var out []storage.AuditRecord
	for {
		recs, more, err := ad.AuditLog(ctx, admin.CLI, f, before, min(limit-len(out), auditPage))
		if err != nil {
			return nil, false, err
		}
		out = append(out, recs...)
		if !more || len(recs) == 0 || len(out) >= limit {
			return out, more, nil
		}
		before = recs[len(recs)-1].ID
	}
}

func writeAuditTable(w io.Writer, recs []storage.AuditRecord) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME (UTC)\tACTOR\tACTION\tDECISION\tSTATUS\tRESOURCE\tDETAIL")
	for _, r := range recs {
		status := "-"
		if r.Status != 0 {
			status = strconv.Itoa(r.Status)
		}
		actor := dash(r.Actor)
		if r.ClientID != "" {
			actor += " (" + r.ClientID + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.At.UTC().Format("2006-01-02 15:04:05"), actor, r.Action,
			dash(r.Decision), status, dash(r.Resource), auditDetail(r))
	}
	return tw.Flush()
}

// auditDetail is one line about a record: a gated request's method, path
// and rule; otherwise its detail as sorted key=value pairs.
func auditDetail(r storage.AuditRecord) string {
	var parts []string
	if r.Method != "" {
		path, _ := r.Detail["path"].(string)
		parts = append(parts, r.Method+" "+path)
		if r.Rule != "" {
			parts = append(parts, "rule="+r.Rule)
		}
		if id, _ := r.Detail["request_id"].(string); id != "" {
			parts = append(parts, "request="+id)
		}
		return strings.Join(parts, " ")
	}
	if r.Rule != "" {
		parts = append(parts, "rule="+r.Rule)
	}
	keys := make([]string, 0, len(r.Detail))
	for k := range r.Detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := r.Detail[k]
		if s, ok := v.(string); ok {
			parts = append(parts, k+"="+s)
			continue
		}
		b, _ := json.Marshal(v)
		parts = append(parts, k+"="+string(b))
	}
	if r.RemoteAddr != "" {
		parts = append(parts, "from="+r.RemoteAddr)
	}
	return dash(strings.Join(parts, " "))
}

// auditJSON is a record as `audit list --json` writes it.
type auditJSON struct {
	ID         int64          `json:"id"`
	At         time.Time      `json:"at"`
	Actor      string         `json:"actor"`
	ClientID   string         `json:"client_id,omitempty"`
	Action     string         `json:"action"`
	Method     string         `json:"method,omitempty"`
	Route      string         `json:"route,omitempty"`
	Resource   string         `json:"resource,omitempty"`
	Decision   string         `json:"decision,omitempty"`
	Rule       string         `json:"rule,omitempty"`
	Status     int            `json:"status,omitempty"`
	LatencyUS  int64          `json:"latency_us,omitempty"`
	RemoteAddr string         `json:"remote_addr,omitempty"`
	Detail     map[string]any `json:"detail,omitempty"`
}

func writeAuditJSON(w io.Writer, recs []storage.AuditRecord) error {
	enc := json.NewEncoder(w)
	for _, r := range recs {
		if err := enc.Encode(auditJSON{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, ClientID: r.ClientID, Action: r.Action,
			Method: r.Method, Route: r.Route, Resource: r.Resource, Decision: r.Decision, Rule: r.Rule, Status: r.Status,
			LatencyUS: r.LatencyUS, RemoteAddr: r.RemoteAddr, Detail: r.Detail}); err != nil {
			return err
		}
	}
	return nil
}
