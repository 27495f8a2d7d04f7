package idp

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/mlflow-gate/mlflow-gate/internal/jsonw"
)

// Compact JWS (RFC 7515) signing and verification for exactly the two
// algorithms the provider uses. It is written out here rather than taken
// from a general JOSE library so that nothing in a token can choose how it
// is verified: the key is found by kid in our own set, its algorithm is the
// one stored with the key, and headers that would bring keys (jwk, jku,
// x5u, x5c) or extensions (crit) make the token invalid.

const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"

	typAccessToken = "at+jwt" // RFC 9068 section 2.1
	typIDToken     = "JWT"

	maxTokenLen = 8 << 10
)

var b64 = base64.RawURLEncoding

// Verification errors. All but ErrStale are verdicts on the credential
// (ErrInvalidCredential, 401); the values exist so tests and logs can tell them
// apart. ErrStale is the verifier not knowing (503).
var (
	ErrMalformed    = credentialErr("token is not a compact JWS")
	ErrHeader       = credentialErr("token header carries a key, a key URL or critical extensions")
	ErrTokenType    = credentialErr("token is not an access token (typ at+jwt)")
	ErrUnknownKey   = credentialErr("token is signed by a key not in the key set")
	ErrAlgorithm    = credentialErr("token algorithm does not match its key")
	ErrSignature    = credentialErr("token signature is invalid")
	ErrIssuer       = credentialErr("token issuer is not this gate")
	ErrAudience     = credentialErr("token audience is not the gate API")
	ErrExpired      = credentialErr("token has expired")
	ErrNotYetValid  = credentialErr("token is not valid yet")
	ErrClaims       = credentialErr("token lacks required claims")
	ErrRevoked      = credentialErr("token has been revoked")
	ErrUserDisabled = credentialErr("token subject is disabled or gone")
	ErrNotForAPI    = credentialErr("token was not issued for the MLflow API (it lacks the mlflow scope)")
	ErrStale        = errors.New("revocation state is stale; refusing tokens until it is reloaded")
)

type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
	JWK  json.RawMessage `json:"jwk"`
	JKU  json.RawMessage `json:"jku"`
	X5U  json.RawMessage `json:"x5u"`
	X5C  json.RawMessage `json:"x5c"`
}

// sign returns the compact JWS of claims under k with the given typ.
func sign(k *signingKey, typ string, claims any) (string, error) {
	hdr := append(jsonw.AppendString([]byte(`{"alg":`), k.alg), `,"kid":`...)
	hdr = append(jsonw.AppendString(hdr, k.kid), `,"typ":`...)
	hdr = append(jsonw.AppendString(hdr, typ), '}')
	var err error
	var payload []byte
	if c, ok := claims.(interface{ appendJSON([]byte) []byte }); ok {
		payload = c.appendJSON(make([]byte, 0, 512))
	} else if payload, err = json.Marshal(claims); err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(b64.EncodedLen(len(hdr)) + b64.EncodedLen(len(payload)) + 360)
	sb.WriteString(b64.EncodeToString(hdr))
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(payload))
	digest := sha256.Sum256([]byte(sb.String()))
	var sig []byte
	switch priv := k.priv.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64) // RFC 7518 section 3.4: R || S, 32 bytes each
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case *rsa.PrivateKey:
		if sig, err = rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:]); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("signing key %s cannot sign", k.kid)
	}
	sb.WriteByte('.')
	sb.WriteString(b64.EncodeToString(sig))
	return sb.String(), nil
}

// splitJWS decodes the header and payload of a compact JWS without
// verifying anything. It refuses what no token of ours looks like.
func splitJWS(raw string) (h jwsHeader, signingInput string, payload, sig []byte, err error) {
	if len(raw) > maxTokenLen {
		return h, "", nil, nil, ErrMalformed
	}
	i := strings.IndexByte(raw, '.')
	j := strings.LastIndexByte(raw, '.')
	if i <= 0 || j <= i+1 || j == len(raw)-1 {
		return h, "", nil, nil, ErrMalformed
	}
	hb, err1 := b64.Strict().DecodeString(raw[:i])
	payload, err2 := b64.Strict().DecodeString(raw[i+1 : j])
	sig, err3 := b64.Strict().DecodeString(raw[j+1:])
	if err1 != nil || err2 != nil || err3 != nil || strings.IndexByte(raw[i+1:j], '.') >= 0 {
		return h, "", nil, nil, ErrMalformed
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, "", nil, nil, ErrMalformed
	}
	// RFC 7515 section 4.1.11: we understand no extension, so any crit
	// makes the token invalid. Embedded keys and key URLs are never trusted;
	// a token of ours never carries them, so their presence alone refuses it.
	if h.Crit != nil || h.JWK != nil || h.JKU != nil || h.X5U != nil || h.X5C != nil {
		return h, "", nil, nil, ErrHeader
	}
	return h, raw[:j], payload, sig, nil
}

// verifySignature checks sig over signingInput with k, whose algorithm is
// fixed; the token's alg header must name exactly that algorithm.
func verifySignature(k *verifyKey, alg, signingInput string, sig []byte) error {
	if alg != k.alg {
		return ErrAlgorithm
	}
	digest := sha256.Sum256([]byte(signingInput))
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		if len(sig) != 64 {
			return ErrSignature
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, s) {
			return ErrSignature
		}
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) != nil {
			return ErrSignature
		}
	default:
		return ErrUnknownKey
	}
	return nil
}

// isAccessTokenType accepts "at+jwt" and its full media type (RFC 9068
// section 4), compared without case as RFC 7515 section 4.1.9 advises.
func isAccessTokenType(typ string) bool {
	return strings.EqualFold(typ, typAccessToken) || strings.EqualFold(typ, "application/"+typAccessToken)
}
