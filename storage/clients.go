package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Client is a registered OAuth 2.0 / OpenID Connect client.
type Client struct {
	ID                     string
	Name                   string
	SecretHash             []byte // SHA-256 of the secret; nil for public clients
	Public                 bool
	Native                 bool // RFC 8252: loopback redirects may use any port
	GrantTypes             []string
	Scopes                 []string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Roles                  []string // held by the client itself (client credentials)
	// IDTokenAlg signs the client's ID tokens and logout tokens: "RS256"
	// (the default of OpenID Connect Dynamic Client Registration) or "ES256".
	IDTokenAlg string
	// BackchannelLogoutURI is told of every logout of a session the client
	// took part in (OpenID Connect Back-Channel Logout 1.0); "" for none.
	BackchannelLogoutURI string
	Builtin              bool
	DisabledAt           *time.Time
	CreatedAt            time.Time
}

// CLIClientID is the public client created at first start for command-line use.
const CLIClientID = "mlflow-gate-cli"

const clientColumns = `c.id, c.name, c.secret_hash, c.public, c.native, c.grant_types, c.scopes, c.id_token_alg, c.backchannel_logout_uri,
	c.builtin, c.disabled_at, c.created_at,
	coalesce((SELECT array_agg(uri ORDER BY uri) FROM client_redirect_uris WHERE client_id = c.id AND kind = 'login'), '{}'),
	coalesce((SELECT array_agg(uri ORDER BY uri) FROM client_redirect_uris WHERE client_id = c.id AND kind = 'post_logout'), '{}'),
	coalesce((SELECT array_agg(r.name ORDER BY r.name) FROM client_roles cr JOIN roles r ON r.id = cr.role_id WHERE cr.client_id = c.id), '{}')`

func scanClient(row pgx.Row) (Client, error) {
	var c Client
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, &c.Native, &c.GrantTypes, &c.Scopes, &c.IDTokenAlg, &c.BackchannelLogoutURI,
		&c.Builtin, &c.DisabledAt,
		&c.CreatedAt, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.Roles)
	return c, classify(err)
}

// CreateClient registers c with its redirect URIs and roles.
func (s *Store) CreateClient(ctx context.Context, actor Actor, c Client) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		if err := insertClient(ctx, tx, c); err != nil {
			return err
		}
		// A client made under the id of a removed one: replicas must stop
		// refusing the id, and keep refusing the old client's tokens.
		if err := Notify(ctx, tx, ChangeClient, c.ID); err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "client.create", Resource: "client:" + c.ID})
	})
}

func insertClient(ctx context.Context, q Querier, c Client) error {
	if c.Scopes == nil {
		c.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	if c.IDTokenAlg == "" {
		c.IDTokenAlg = "RS256"
	}
	_, err := q.Exec(ctx, `
		INSERT INTO clients (id, name, secret_hash, public, native, grant_types, scopes, id_token_alg, backchannel_logout_uri, builtin)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.ID, c.Name, c.SecretHash, c.Public, c.Native, c.GrantTypes, c.Scopes, c.IDTokenAlg, c.BackchannelLogoutURI, c.Builtin)
	if err = classify(err); err != nil {
		if errors.Is(err, ErrConflict) {
			return fmt.Errorf("%w: client %q already exists", ErrConflict, c.ID)
		}
		return err
	}
	if err := insertRedirectURIs(ctx, q, c); err != nil {
		return err
	}
	return insertClientRoles(ctx, q, c.ID, c.Roles)
}

func insertRedirectURIs(ctx context.Context, q Querier, c Client) error {
	for kind, uris := range map[string][]string{"login": c.RedirectURIs, "post_logout": c.PostLogoutRedirectURIs} {
		for _, u := range uris {
			if _, err := q.Exec(ctx, `INSERT INTO client_redirect_uris (client_id, kind, uri) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
				c.ID, kind, u); err != nil {
				return classify(err)
			}
		}
	}
	return nil
}

func insertClientRoles(ctx context.Context, q Querier, id string, roles []string) error {
	for _, role := range roles {
		rid, err := roleID(ctx, q, role)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO client_roles (client_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, rid); err != nil {
			return classify(err)
		}
	}
	return nil
}

// UpdateClient replaces the registration of client c.ID with c (name, grant
// types, scopes, redirect URIs, roles, ID-token algorithm and back-channel
// logout URI; never its id, kind, secret or built-in mark) and tells every
// replica. change reads the stored client under a row lock and returns the
// one to store, so concurrent updates do not lose each other's edits; an
// error from change is returned as it is.
func (s *Store) UpdateClient(ctx context.Context, actor Actor, id string, change func(Client) (Client, error)) (Client, error) {
	var out Client
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		old, err := scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients c WHERE c.id = $1 FOR UPDATE`, id))
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: no client %q", ErrNotFound, id)
		} else if err != nil {
			return err
		}
		c, err := change(old)
		if err != nil {
			return err
		}
		c.ID, c.Public, c.Native, c.SecretHash, c.Builtin = old.ID, old.Public, old.Native, old.SecretHash, old.Builtin
		if _, err := tx.Exec(ctx, `UPDATE clients SET name = $2, grant_types = $3, scopes = $4, id_token_alg = $5,
			backchannel_logout_uri = $6, updated_at = now() WHERE id = $1`,
			id, c.Name, c.GrantTypes, c.Scopes, c.IDTokenAlg, c.BackchannelLogoutURI); err != nil {
			return classify(err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM client_redirect_uris WHERE client_id = $1`, id); err != nil {
			return classify(err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM client_roles WHERE client_id = $1`, id); err != nil {
			return classify(err)
		}
		if err := insertRedirectURIs(ctx, tx, c); err != nil {
			return err
		}
		if err := insertClientRoles(ctx, tx, id, c.Roles); err != nil {
			return err
		}
		if err := Notify(ctx, tx, ChangeClient, id); err != nil {
			return err
		}
		out, err = scanClient(tx.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients c WHERE c.id = $1`, id))
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "client.update", Resource: "client:" + id,
			Detail: clientChanges(old, out)})
	})
	return out, err
}

// clientChanges names the fields an update changed, for the audit log.
func clientChanges(a, b Client) map[string]any {
	d := map[string]any{}
	eq := func(x, y []string) bool { return slices.Equal(x, y) }
	if a.Name != b.Name {
		d["name"] = b.Name
	}
	if !eq(a.GrantTypes, b.GrantTypes) {
		d["grant_types"] = b.GrantTypes
	}
	if !eq(a.Scopes, b.Scopes) {
		d["scopes"] = b.Scopes
	}
	if !eq(a.RedirectURIs, b.RedirectURIs) {
		d["redirect_uris"] = b.RedirectURIs
	}
	if !eq(a.PostLogoutRedirectURIs, b.PostLogoutRedirectURIs) {
		d["post_logout_redirect_uris"] = b.PostLogoutRedirectURIs
	}
	if !eq(a.Roles, b.Roles) {
		d["roles"] = b.Roles
	}
	if a.IDTokenAlg != b.IDTokenAlg {
		d["id_token_alg"] = b.IDTokenAlg
	}
	if a.BackchannelLogoutURI != b.BackchannelLogoutURI {
		d["backchannel_logout_uri"] = b.BackchannelLogoutURI
	}
	return d
}

// ClientByID loads one client with its redirect URIs and roles.
func (s *Store) ClientByID(ctx context.Context, id string) (Client, error) {
	return scanClient(s.Pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients c WHERE c.id = $1`, id))
}

// ListClients returns every client, by id.
func (s *Store) ListClients(ctx context.Context) ([]Client, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+clientColumns+` FROM clients c ORDER BY c.id`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, classify(rows.Err())
}

// DeleteClient removes a client with its redirect URIs, roles, refresh
// tokens and personal access tokens, and tells every replica: tokens the
// client holds stop working at once. Built-in clients are refused.
func (s *Store) DeleteClient(ctx context.Context, actor Actor, id string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		var builtin bool
		err := tx.QueryRow(ctx, `DELETE FROM clients WHERE id = $1 AND NOT builtin RETURNING builtin`, id).Scan(&builtin)
		if err = classify(err); errors.Is(err, ErrNotFound) {
			var exists bool
			if qerr := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1)`, id).Scan(&exists); qerr == nil && exists {
				return fmt.Errorf("%w: client %q is built in and cannot be removed", ErrInvalid, id)
			}
			return fmt.Errorf("%w: no client %q", ErrNotFound, id)
		} else if err != nil {
			return err
		}
		if err := Notify(ctx, tx, ChangeClient, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "client.delete", Resource: "client:" + id})
	})
}

// SetClientSecret replaces a confidential client's secret hash; the old
// secret stops authenticating at once.
func (s *Store) SetClientSecret(ctx context.Context, actor Actor, id string, secretHash []byte) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE clients SET secret_hash = $2 WHERE id = $1 AND NOT public`, id, secretHash)
		if err != nil {
			return classify(err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no confidential client %q", ErrNotFound, id)
		}
		if err := Notify(ctx, tx, ChangeClient, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "client.rotate_secret", Resource: "client:" + id})
	})
}

// SetClientRoles replaces the roles a client holds itself (client
// credentials) and tells every replica.
func (s *Store) SetClientRoles(ctx context.Context, actor Actor, id string, roles []string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM client_roles WHERE client_id = $1`, id); err != nil {
			return classify(err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM clients WHERE id = $1)`, id).Scan(&exists); err != nil {
			return classify(err)
		}
		if !exists {
			return fmt.Errorf("%w: no client %q", ErrNotFound, id)
		}
		for _, role := range roles {
			rid, err := roleID(ctx, tx, role)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO client_roles (client_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, rid); err != nil {
				return classify(err)
			}
		}
		if err := Notify(ctx, tx, ChangeClient, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "client.set_roles", Resource: "client:" + id,
			Detail: map[string]any{"roles": roles}})
	})
}

// SetClientDisabled disables or enables a client; a disabled client can
// neither obtain nor use tokens.
func (s *Store) SetClientDisabled(ctx context.Context, actor Actor, id string, disabled bool, now time.Time) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		var at any
		if disabled {
			at = now
		}
		tag, err := tx.Exec(ctx, `UPDATE clients SET disabled_at = $2 WHERE id = $1`, id, at)
		if err != nil {
			return classify(err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: no client %q", ErrNotFound, id)
		}
		if err := Notify(ctx, tx, ChangeClient, id); err != nil {
			return err
		}
		action := "client.enable"
		if disabled {
			action = "client.disable"
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: action, Resource: "client:" + id})
	})
}
