package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is an account that can log in and hold roles.
type User struct {
	ID       string
	Username string
	Profile
	PasswordHash string
	DisabledAt   *time.Time
	CreatedAt    time.Time
	Roles        []string
}

// Profile is what the profile and email scopes tell relying parties about a
// user (OpenID Connect Core section 5.1). Every field is optional; only an
// administrator sets EmailVerified.
type Profile struct {
	Email         string
	EmailVerified bool
	Name          string
	GivenName     string
	FamilyName    string
}

// Enabled reports whether the user may log in and use tokens.
func (u User) Enabled() bool { return u.DisabledAt == nil }

// ErrLastAdmin refuses a change that would leave nobody holding Admin.
var ErrLastAdmin = errors.New("the last enabled Admin cannot be disabled or demoted")

// RoleAdmin and RoleDefault are created by Bootstrap.
const (
	RoleAdmin   = "Admin"
	RoleDefault = "Default"
)

const userColumns = `u.id::text, u.username, u.email, u.email_verified, u.name, u.given_name, u.family_name, u.password_hash, u.disabled_at, u.created_at,
	coalesce((SELECT array_agg(r.name ORDER BY r.name) FROM user_roles ur JOIN roles r ON r.id = ur.role_id
	          WHERE ur.user_id = u.id), '{}')`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.Name, &u.GivenName, &u.FamilyName, &u.PasswordHash, &u.DisabledAt, &u.CreatedAt, &u.Roles)
	return u, classify(err)
}

// CreateUser adds an enabled user holding roles, in one transaction: a role
// that does not exist leaves no user behind.
func (s *Store) CreateUser(ctx context.Context, actor Actor, username, passwordHash string, roles ...string) (User, error) {
	return s.CreateUserWithProfile(ctx, actor, username, passwordHash, Profile{}, roles...)
}

// CreateUserWithProfile is CreateUser with a profile.
func (s *Store) CreateUserWithProfile(ctx context.Context, actor Actor, username, passwordHash string, p Profile, roles ...string) (User, error) {
	var u User
	err := s.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			WITH u AS (INSERT INTO users (username, password_hash, email, email_verified, name, given_name, family_name)
			           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *)
			SELECT `+userColumns+` FROM u`, username, passwordHash, p.Email, p.EmailVerified, p.Name, p.GivenName, p.FamilyName))
		if err != nil {
			if errors.Is(err, ErrConflict) {
				return fmt.Errorf("%w: user %q already exists", ErrConflict, username)
			}
			if errors.Is(err, ErrInvalid) {
				return fmt.Errorf("%w: username %q (letters, digits and . _ @ - only, up to 128)", ErrInvalid, username)
			}
			return err
		}
		if err := s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "user.create", Resource: "user:" + username}); err != nil {
			return err
		}
		for _, r := range roles {
			rid, err := roleID(ctx, tx, r)
			if err != nil {
				return err
			}
			if _, err := s.grantRole(ctx, tx, actor, rid, r, u.ID, username); err != nil {
				return err
			}
			if !slices.Contains(u.Roles, r) {
				u.Roles = append(u.Roles, r)
			}
		}
		slices.Sort(u.Roles)
		return nil
	})
	return u, err
}

// UserByName finds a user by name, ignoring case.
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE lower(u.username) = lower($1)`, username))
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	return scanUser(s.Pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id::text = $1`, id))
}

// ListUsers returns every user, by name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+userColumns+` FROM users u ORDER BY lower(u.username)`)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, classify(rows.Err())
}

// SetPassword replaces a user's password hash and ends the user's sessions
// and refresh-token families: whoever knew the old password is logged out.
func (s *Store) SetPassword(ctx context.Context, actor Actor, username, passwordHash string) error {
	return s.ChangePassword(ctx, actor, username, passwordHash, "")
}

// ChangePassword replaces a user's password and ends their sessions and
// refresh-token families, except the SSO session keep (the browser of a user
// changing their own password stays signed in; "" keeps none).
func (s *Store) ChangePassword(ctx context.Context, actor Actor, username, passwordHash, keep string) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		id, err := userID(ctx, tx, username, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1`, id, passwordHash); err != nil {
			return classify(err)
		}
		if err := endUserGrantsExcept(ctx, tx, id, keep); err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "user.set_password", Resource: "user:" + username})
	})
}

// SetDisabled disables or enables a user. Disabling ends the user's sessions,
// refresh-token families and personal access tokens, in the same
// transaction and on every replica, and refuses to disable the last enabled
// Admin. Enabling brings none of them back: the user signs in again and
// creates new tokens.
func (s *Store) SetDisabled(ctx context.Context, actor Actor, username string, disabled bool) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		id, err := userID(ctx, tx, username, true)
		if err != nil {
			return err
		}
		action := "user.enable"
		if disabled {
			action = "user.disable"
			if err := guardLastAdmin(ctx, tx, id); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, now()), updated_at = now() WHERE id = $1`, id); err != nil {
				return classify(err)
			}
			if err := endUserGrants(ctx, tx, id); err != nil {
				return err
			}
			n, err := revokeUserPATs(ctx, tx, id)
			if err != nil {
				return err
			}
			return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: action, Resource: "user:" + username,
				Detail: map[string]any{"revoked_tokens": n}})
		} else {
			if _, err := tx.Exec(ctx, `UPDATE users SET disabled_at = NULL, updated_at = now() WHERE id = $1`, id); err != nil {
				return classify(err)
			}
			// Replicas cache the user's state; they must learn of the change too.
			if err := Notify(ctx, tx, ChangeUser, id); err != nil {
				return err
			}
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: action, Resource: "user:" + username})
	})
}

// SetProfile replaces a user's profile. Tokens already issued keep the claims
// they were signed with; userinfo answers the new ones at once.
func (s *Store) SetProfile(ctx context.Context, actor Actor, username string, p Profile) error {
	return s.InTx(ctx, func(tx pgx.Tx) error {
		id, err := userID(ctx, tx, username, true)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET email = $2, email_verified = $3, name = $4, given_name = $5, family_name = $6,
			updated_at = now() WHERE id = $1`, id, p.Email, p.EmailVerified, p.Name, p.GivenName, p.FamilyName); err != nil {
			return classify(err)
		}
		if err := Notify(ctx, tx, ChangeUser, id); err != nil {
			return err
		}
		return s.audit(ctx, tx, Event{Actor: actor.Name, RemoteAddr: actor.Address, Action: "user.profile", Resource: "user:" + username,
			Detail: map[string]any{"email": p.Email, "email_verified": p.EmailVerified}})
	})
}

// userID resolves a username inside tx, optionally locking the row.
func userID(ctx context.Context, q Querier, username string, lock bool) (string, error) {
	sql := `SELECT id::text FROM users WHERE lower(username) = lower($1)`
	if lock {
		sql += ` FOR UPDATE`
	}
	var id string
	if err := q.QueryRow(ctx, sql, username).Scan(&id); err != nil {
		if errors.Is(classify(err), ErrNotFound) {
			return "", fmt.Errorf("%w: no user %q", ErrNotFound, username)
		}
		return "", classify(err)
	}
	return id, nil
}

// endUserGrants revokes the user's SSO sessions and refresh-token families and
// tells every replica (their caches drop the user's state on the notification).
func endUserGrants(ctx context.Context, q Querier, userID string) error {
	return endUserGrantsExcept(ctx, q, userID, "")
}

// endUserGrantsExcept is endUserGrants sparing the SSO session keep (not its
// refresh-token families: those are other devices).
func endUserGrantsExcept(ctx context.Context, q Querier, userID, keep string) error {
	rows, err := q.Query(ctx, `UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL AND id::text <> $2
		RETURNING id::text`, userID, keep)
	if err != nil {
		return classify(err)
	}
	ended, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return classify(err)
	}
	if len(ended) > 0 {
		if err := enqueueLogouts(ctx, q, `s.id::text = ANY($1)`, ended); err != nil {
			return err
		}
	}
	if _, err := q.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID); err != nil {
		return classify(err)
	}
	return Notify(ctx, q, ChangeUser, userID)
}

// revokeUserPATs revokes every live personal access token of the user and
// announces each, so every replica's cache refuses it at once. It returns how
// many were revoked.
func revokeUserPATs(ctx context.Context, q Querier, userID string) (int, error) {
	rows, err := q.Query(ctx, `UPDATE personal_access_tokens SET revoked_at = now()
		WHERE user_id = $1 AND revoked_at IS NULL RETURNING id::text`, userID)
	if err != nil {
		return 0, classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, classify(err)
	}
	for _, id := range ids {
		if err := Notify(ctx, q, ChangePAT, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// guardLastAdmin fails when userID is the only enabled holder of Admin. The
// Admin role row is locked so two concurrent demotions cannot both pass.
func guardLastAdmin(ctx context.Context, q Querier, userID string) error {
	var adminRole string
	err := q.QueryRow(ctx, `SELECT id::text FROM roles WHERE name = $1 FOR UPDATE`, RoleAdmin).Scan(&adminRole)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	} else if err != nil {
		return classify(err)
	}
	var others int
	var holds bool
	err = q.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE u.id::text <> $2 AND u.disabled_at IS NULL),
		       bool_or(u.id::text = $2)
		FROM user_roles ur JOIN users u ON u.id = ur.user_id
		WHERE ur.role_id::text = $1`, adminRole, userID).Scan(&others, &holds)
	if err != nil {
		return classify(err)
	}
	if holds && others == 0 {
		return ErrLastAdmin
	}
	return nil
}
