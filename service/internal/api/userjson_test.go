package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"
)

func TestUserJSONMatchesEncodingJSON(t *testing.T) {
	login := time.Date(2026, 11, 30, 6, 1, 2, 345678900, time.UTC)
	url := "/api/v1/users/7/avatar?v=3"
	for _, u := range []userResponse{
		{ID: 1, Username: "root", Email: "root@example.com", Role: "admin", IsRoot: true, Version: 1,
			CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(1_800_000_000, 1).UTC()},
		{ID: 7, Username: "a.b_c-d", Email: "x<y>&z\"\\@example.com", Role: "user", ForcePasswordChange: true,
			AvatarURL: &url, Version: 3, LastLoginAt: &login, CreatedAt: login, UpdatedAt: login.In(time.FixedZone("", 3600)),
			Disabled: true, DisabledAt: &login},
		{Email: "ctl\x00\x01\b\f\n\r\t\x1f\u2028\u2029\xffé☕"},
	} {
		want, err := json.Marshal(u)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("appendJSON:\n got %s\nwant %s", got, want)
		}
	}
	rec := httptest.NewRecorder()
	writeAppended(rec, 201, userResponse{ID: 9, Username: "n"})
	if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("writeUserJSON: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}

// FuzzUserJSON: the hand-written encoder is byte for byte encoding/json's.
func FuzzUserJSON(f *testing.F) {
	f.Add(int64(1), "root", "root@example.com", "admin", true, 3, int64(1_800_000_000), "")
	f.Add(int64(-5), "<&>", "\xff\u2028", "\x00", false, -1, int64(-1), "x")
	f.Fuzz(func(t *testing.T, id int64, name, email, role string, flag bool, version int, unix int64, avatar string) {
		ts := time.Unix(unix%(1<<35), unix%1e9).UTC()
		u := userResponse{ID: id, Username: name, Email: email, Role: role, IsRoot: flag, ForcePasswordChange: !flag,
			Version: version, CreatedAt: ts, UpdatedAt: ts}
		if avatar != "" {
			u.AvatarURL, u.LastLoginAt = &avatar, &ts
		}
		if flag {
			u.Disabled, u.DisabledAt = true, &ts
		}
		want, err := json.Marshal(u)
		if err != nil {
			return // a time json cannot marshal
		}
		if got := u.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("appendJSON:\n got %s\nwant %s", got, want)
		}
	})
}
