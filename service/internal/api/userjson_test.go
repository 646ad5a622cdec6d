package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/gopherops/gopherops/service/contract"
)

func TestWriteAppended(t *testing.T) {
	rec := httptest.NewRecorder()
	writeAppended(rec, 201, contract.User{ID: 9, Username: "n"})
	if rec.Code != 201 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("writeAppended: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var u contract.User
	if err := json.Unmarshal(rec.Body.Bytes(), &u); err != nil || u.ID != 9 || u.Username != "n" {
		t.Fatalf("writeAppended body %s decodes as %+v (%v)", rec.Body, u, err)
	}
}
