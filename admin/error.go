package admin

import (
	"errors"
	"fmt"

	"github.com/mlflow-gate/mlflow-gate/storage"
)

// Error codes: every application error of an administrative operation has
// one of these. Each surface maps them once: the CLI to an exit status and a
// message, the admin pages to a re-rendered form.
const (
	EInvalid   = "invalid"   // the input is wrong: a bad name, a weak password, an unknown scope
	EConflict  = "conflict"  // the change collides with what is stored: a duplicate, the last Admin, the only signing key
	ENotFound  = "not_found" // what the operation names does not exist
	EForbidden = "forbidden" // the actor may not do this
	EInternal  = "internal"  // anything else: a broken database, a bug
)

// Error is an application error: something the actor can read and act on.
// Any other error an operation returns is internal.
type Error struct {
	Code    string // one of the E* codes
	Message string // for people; never secrets or internals
	err     error  // the cause, kept for errors.Is
}

func (e *Error) Error() string { return e.Message }

// Unwrap lets callers test the cause (for example storage.ErrOnlySigningKey).
func (e *Error) Unwrap() error { return e.err }

// Errorf returns an application error with code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: "" for nil, the code of an *Error in its
// chain, and EInternal for every other error.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns what a person may be shown for err: the message of an
// application error, and only "internal error" for any other (its detail
// belongs in a log, not in front of the actor).
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	}
	return "internal error"
}

// classify turns storage's sentinels into application errors, keeping their
// text; an error without a sentinel is returned unchanged, and so is internal.
func classify(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	code := ""
	switch {
	case errors.Is(err, storage.ErrNotFound):
		code = ENotFound
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrLastAdmin), errors.Is(err, storage.ErrOnlySigningKey):
		code = EConflict
	case errors.Is(err, storage.ErrInvalid):
		code = EInvalid
	default:
		return err
	}
	return &Error{Code: code, Message: err.Error(), err: err}
}
