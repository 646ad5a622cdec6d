package contract

import (
	"strconv"
	"time"

	"github.com/gopherops/gopherops/service/internal/jsonquote"
)

// User is the API's view of an account, defined once: the service encodes
// it, the journeys and other clients decode it, and TestUserMatchesSchema
// fails when it, its encoder and the OpenAPI schema "User" disagree.
type User struct {
	ID                  int64      `json:"id"`
	Username            string     `json:"username"`
	Email               string     `json:"email"`
	Role                string     `json:"role"`
	IsRoot              bool       `json:"is_root"`
	ForcePasswordChange bool       `json:"force_password_change"`
	AvatarURL           *string    `json:"avatar_url"`
	Version             int        `json:"version"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
	LastLoginAt         *time.Time `json:"last_login_at"`
	// Disabled accounts cannot sign in and have no sessions; DisabledAt is
	// when an admin disabled it.
	Disabled   bool       `json:"disabled"`
	DisabledAt *time.Time `json:"disabled_at"`
}

// Path is the user's API resource.
func (u User) Path() string { return "/api/v1/users/" + strconv.FormatInt(u.ID, 10) }

// AppendJSON appends u as encoding/json would marshal it, byte for byte
// (the tests and FuzzUserJSON prove it), without reflection: the user is
// the body of the API's hottest route.
func (u User) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, u.ID, 10)
	b = append(b, `,"username":`...)
	b = jsonquote.Append(b, u.Username, jsonquote.EncodingJSON)
	b = append(b, `,"email":`...)
	b = jsonquote.Append(b, u.Email, jsonquote.EncodingJSON)
	b = append(b, `,"role":`...)
	b = jsonquote.Append(b, u.Role, jsonquote.EncodingJSON)
	b = append(b, `,"is_root":`...)
	b = strconv.AppendBool(b, u.IsRoot)
	b = append(b, `,"force_password_change":`...)
	b = strconv.AppendBool(b, u.ForcePasswordChange)
	b = append(b, `,"avatar_url":`...)
	if u.AvatarURL == nil {
		b = append(b, "null"...)
	} else {
		b = jsonquote.Append(b, *u.AvatarURL, jsonquote.EncodingJSON)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(u.Version), 10)
	b = append(b, `,"created_at":`...)
	b = appendJSONTime(b, u.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, u.UpdatedAt)
	b = append(b, `,"last_login_at":`...)
	b = appendJSONTimePtr(b, u.LastLoginAt)
	b = append(b, `,"disabled":`...)
	b = strconv.AppendBool(b, u.Disabled)
	b = append(b, `,"disabled_at":`...)
	b = appendJSONTimePtr(b, u.DisabledAt)
	return append(b, '}')
}

// appendJSONTimePtr is a *time.Time as encoding/json writes it: null or the time.
func appendJSONTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendJSONTime(b, *t)
}

// appendJSONTime is time.Time's MarshalJSON (RFC 3339 with nanoseconds).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}
