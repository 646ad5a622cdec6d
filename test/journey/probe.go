package journey

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// SignInE creates an API token with the credentials and returns it, or an
// error for any answer but 201: for polling a deployment that is coming
// back (a restore), where a failure is the expected answer for a while.
func (c *Client) SignInE(cr Credentials) (string, error) {
	resp, err := c.DoE(Request{Method: http.MethodPost, Path: "/api/v1/auth/tokens",
		JSON: map[string]string{"login": cr.Login, "password": cr.Password, "name": "journey probe"}})
	if err != nil {
		return "", err
	}
	if resp.Status != http.StatusCreated {
		return "", fmt.Errorf("sign in as %s: %s", cr.Login, resp)
	}
	var tok Token
	if err := json.Unmarshal(resp.Body, &tok); err != nil {
		return "", fmt.Errorf("sign in as %s: %w", cr.Login, err)
	}
	return tok.Token, nil
}

// GetUserE reads a user, or returns an error for any answer but 200.
func (c *Client) GetUserE(id int64) (User, error) {
	resp, err := c.DoE(Request{Method: http.MethodGet, Path: User{ID: id}.Path()})
	if err != nil {
		return User{}, err
	}
	if resp.Status != http.StatusOK {
		return User{}, fmt.Errorf("user %d: %s", id, resp)
	}
	var u User
	if err := json.Unmarshal(resp.Body, &u); err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}
