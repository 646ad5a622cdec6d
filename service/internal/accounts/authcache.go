package accounts

import (
	"sync"
	"time"
)

// authCache remembers recent successful authentications for a moment, so an
// API client's burst of requests costs one session lookup, not one per
// request. Every change this process makes to a user or a session evicts the
// affected entries at once; another replica's changes (a revocation there)
// take effect here within the TTL.
type authCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[[32]byte]authEntry
}

type authEntry struct {
	user    User
	session Session
	until   time.Time
}

func newAuthCache(ttl time.Duration, max int) *authCache {
	return &authCache{ttl: ttl, max: max, entries: make(map[[32]byte]authEntry)}
}

func (c *authCache) get(key [32]byte, now time.Time) (User, Session, bool) {
	if c == nil {
		return User{}, Session{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.After(e.until) || now.After(e.session.ExpiresAt) {
		return User{}, Session{}, false
	}
	return e.user, e.session, true
}

func (c *authCache) put(key [32]byte, u User, s Session, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Simpler than LRU and just as bounded: a full cache starts over.
		clear(c.entries)
	}
	c.entries[key] = authEntry{user: u, session: s, until: now.Add(c.ttl)}
}

// forgetUser evicts every entry of userID (its role, password or existence changed).
func (c *authCache) forgetUser(userID int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.user.ID == userID {
			delete(c.entries, k)
		}
	}
}

// forgetSession evicts one session or token.
func (c *authCache) forgetSession(sessionID int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.session.ID == sessionID {
			delete(c.entries, k)
		}
	}
}
