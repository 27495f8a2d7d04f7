package authz

import "errors"

// ErrBadRequest is matched (errors.Is) by every error this package returns for a request
// it refuses to read: the proxy answers those with 400 INVALID_PARAMETER_VALUE. The
// more specific sentinels below are matched too.
var ErrBadRequest = errors.New("authz: bad request")

// Path errors (NormalizePath).
var (
	ErrNotAbsolute   = errors.New("path does not start with /")
	ErrPathTooLong   = errors.New("path too long")
	ErrPathTooDeep   = errors.New("path has too many segments")
	ErrDotSegment    = errors.New("path has a dot segment")
	ErrEncodedSlash  = errors.New("path has an encoded slash or backslash")
	ErrDoubleSlash   = errors.New("path has an empty segment")
	ErrBackslash     = errors.New("path has a backslash")
	ErrNUL           = errors.New("path has a NUL byte")
	ErrControlChar   = errors.New("path has a control character")
	ErrBadEscape     = errors.New("invalid percent escape")
	ErrEncodedEscape = errors.New("path has an encoded percent sign")
	ErrInvalidUTF8   = errors.New("invalid UTF-8")
)

// Query, body and GraphQL errors.
var (
	ErrRepeatedKey    = errors.New("query key repeated")
	ErrSemicolon      = errors.New("query uses ; as a separator")
	ErrBodyTooLarge   = errors.New("body larger than the limit")
	ErrInvalidJSON    = errors.New("invalid JSON")
	ErrDuplicateKey   = errors.New("JSON object has a duplicate key")
	ErrAmbiguousField = errors.New("field given twice under different spellings")
	ErrBadHeader      = errors.New("bad header")
	ErrGraphQL        = errors.New("GraphQL document refused")
)

// RequestError is the error type of every refusal: Kind is one of the sentinels
// above, Detail says where.
type RequestError struct {
	Kind   error
	Detail string
}

func (e *RequestError) Error() string {
	if e.Detail == "" {
		return "authz: " + e.Kind.Error()
	}
	return "authz: " + e.Kind.Error() + ": " + e.Detail
}

// Is makes errors.Is(err, ErrBadRequest) and errors.Is(err, <Kind>) true.
func (e *RequestError) Is(target error) bool { return target == ErrBadRequest || target == e.Kind }

func reqErr(kind error, detail string) error { return &RequestError{Kind: kind, Detail: detail} }
