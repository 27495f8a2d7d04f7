package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// registerKeys wires the admin page for signing keys.
func (s *Server) registerKeys() {
	s.handle("GET /gate/admin/keys", s.keysPage)
	s.handle("POST /gate/admin/keys/rotate", s.keyRotate)
	s.handle("POST /gate/admin/keys/{kid}/revoke", s.keyRevoke)
}

type keyRow struct {
	storage.SigningKey
	State string
}

func (s *Server) keysPage(w http.ResponseWriter, r *http.Request, v *visit) {
	s.renderKeys(w, r, v, http.StatusOK, "", nil)
}

func (s *Server) renderKeys(w http.ResponseWriter, r *http.Request, v *visit, status int, msg string, form map[string][]string) {
	v.Section = "admin"
	keys, err := s.cfg.Admin.ListKeys(r.Context(), v.actor())
	if err != nil {
		s.failPage(w, r, v, err)
		return
	}
	now := s.cfg.Now()
	rows := make([]keyRow, len(keys))
	for i, k := range keys {
		rows[i] = keyRow{k, k.State(now)}
	}
	s.render(w, r, status, "admin_keys", page{V: v, Title: "Signing keys", Error: msg, Form: form, Data: rows})
}

func (s *Server) keyRotate(w http.ResponseWriter, r *http.Request, v *visit) {
	f := r.PostForm
	var delay time.Duration
	if d := strings.TrimSpace(f.Get("delay")); d != "" {
		var err error
		if delay, err = time.ParseDuration(d); err != nil || delay < 0 || delay > 30*24*time.Hour {
			s.renderKeys(w, r, v, http.StatusBadRequest, "The delay is a duration such as 10m or 24h, between 0 and 720h.", f)
			return
		}
	}
	k, err := s.cfg.Admin.RotateKey(r.Context(), v.actor(), f.Get("alg"), delay)
	if err != nil {
		st, m := s.failure(r, err)
		s.renderKeys(w, r, v, st, m, f)
		return
	}
	msg := "Published the new " + k.Alg + " key " + k.KID + "; it signs from " + k.NotBefore.UTC().Format("2006-01-02 15:04:05 UTC") +
		". Tokens signed by the keys it replaces keep working until they expire."
	s.done(w, r, "/gate/admin/keys", flash{Message: msg})
}

func (s *Server) keyRevoke(w http.ResponseWriter, r *http.Request, v *visit) {
	if msg := s.confirm(r, v); msg != "" {
		s.renderKeys(w, r, v, http.StatusUnauthorized, msg, nil)
		return
	}
	kid := r.PathValue("kid")
	repl, err := s.cfg.Admin.RevokeKey(r.Context(), v.actor(), kid, r.PostForm.Get("replace") == "on")
	if err != nil {
		st, m := s.failure(r, err)
		if strings.Contains(m, "only") {
			m += " Tick \"make a replacement\" to revoke it anyway: a new key then signs at once."
		}
		s.renderKeys(w, r, v, st, m, nil)
		return
	}
	msg := "Revoked the key " + kid + ": every token it signed is refused from now on."
	if repl != "" {
		msg += " The new key " + repl + " signs instead."
	}
	s.done(w, r, "/gate/admin/keys", flash{Message: msg})
}
