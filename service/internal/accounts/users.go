package accounts

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/imaging"
	"github.com/gopherops/gopherops/service/internal/password"
)

// MaxListLimit caps a page of users.
const MaxListLimit = 100

// DefaultListLimit is the page size when none is asked for.
const DefaultListLimit = 20

// MaxAvatarBytes caps an avatar upload.
const MaxAvatarBytes = 1 << 20

// Avatars are at most 2048 px a side, and one avatar's decoding may take at
// most 40 MiB (2048² at 8 bits RGBA takes 32), all of them at once 80 MiB:
// with the pod's 460 MiB GOMEMLIMIT, uploads cannot exhaust memory however
// many arrive together.
const (
	maxAvatarSide        = 2048
	avatarDecodeBytes    = 40 << 20
	avatarDecodeInFlight = 80 << 20
)

// NewUser is the input for creating an account.
type NewUser struct {
	Username string
	Email    string
	Password string
	Role     Role
	// ForcePasswordChange makes the user pick a new password at first sign-in:
	// the admin who typed this one knows it.
	ForcePasswordChange bool
}

func (s *Service) validateNew(in *NewUser) error {
	v := &ValidationError{}
	in.Email = NormalizeEmail(in.Email)
	checkUsername(v, in.Username)
	checkEmail(v, in.Email)
	if in.Role == "" {
		in.Role = RoleUser
	}
	checkRole(v, in.Role)
	if reason := s.policy.Check(in.Password, in.Username, emailLocal(in.Email)); reason != "" {
		v.add("password", reason)
	}
	return v.orNil()
}

func emailLocal(email string) string {
	local, _, _ := strings.Cut(email, "@")
	return local
}

// CheckNewUser reports what CreateUser would refuse in in, field by field,
// without creating anything (nil when nothing is wrong before the database
// is asked): a form can show every problem at once, its own among them.
func (s *Service) CheckNewUser(in NewUser) *ValidationError {
	var v *ValidationError
	if err := s.validateNew(&in); err != nil {
		errors.As(err, &v)
	}
	return v
}

// CheckNewPassword says why next cannot become u's password ("" when it
// can), as ChangePassword's policy would.
func (s *Service) CheckNewPassword(u User, next string) string {
	return s.policy.Check(next, u.Username, emailLocal(u.Email))
}

// CreateUser creates an account; only admins may.
func (s *Service) CreateUser(ctx context.Context, a Actor, in NewUser) (User, error) {
	if err := requireAdmin(a); err != nil {
		return User{}, err
	}
	if err := s.validateNew(&in); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return User{}, fmt.Errorf("accounts: hash: %w", err)
	}
	var u User
	err = s.store.InTx(ctx, func(st Store) error {
		var err error
		u, err = st.CreateUser(ctx, NewUserRecord{
			Username: in.Username, Email: in.Email, PasswordHash: hash,
			Role: in.Role, ForcePasswordChange: in.ForcePasswordChange,
		})
		if err != nil {
			return err
		}
		return s.audit(ctx, st, a, ActionUserCreated, &u, map[string]any{"role": string(u.Role)})
	})
	return u, err
}

// CreateFromCLI creates an account for the operator at the command line
// (`gopherops admin create`), who needs no actor. The first admin ever
// created becomes the root user.
func (s *Service) CreateFromCLI(ctx context.Context, in NewUser) (User, error) {
	if err := s.validateNew(&in); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return User{}, fmt.Errorf("accounts: hash: %w", err)
	}
	rec := NewUserRecord{Username: in.Username, Email: in.Email, PasswordHash: hash, Role: in.Role,
		ForcePasswordChange: in.ForcePasswordChange}
	var u User
	err = s.store.InTx(ctx, func(st Store) error {
		var err error
		if in.Role == RoleAdmin {
			u, err = st.CreateFirstAdmin(ctx, rec)
		} else {
			u, err = st.CreateUser(ctx, rec)
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, st, Actor{User: User{Username: "cli"}}, ActionUserCreated, &u,
			map[string]any{"role": string(u.Role), "root": u.IsRoot, "via": "admin create"})
	})
	return u, err
}

// Page is one page of users and the cursor of the next, "" at the end.
type Page struct {
	Users      []User
	NextCursor string
}

// ListUsers returns a page of users in ID order; only admins may.
func (s *Service) ListUsers(ctx context.Context, a Actor, cursor string, limit int) (Page, error) {
	if err := requireAdmin(a); err != nil {
		return Page{}, err
	}
	v := &ValidationError{}
	var after int64
	if cursor != "" {
		id, err := strconv.ParseInt(cursor, 36, 64)
		if err != nil || id < 0 {
			v.add("cursor", "is not a cursor this server issued")
		}
		after = id
	}
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		v.add("limit", "must be between 1 and 100")
	}
	if err := v.orNil(); err != nil {
		return Page{}, err
	}
	// One extra row tells whether another page exists.
	users, err := s.store.ListUsers(ctx, after, limit+1)
	if err != nil {
		return Page{}, err
	}
	p := Page{Users: users}
	if len(users) > limit {
		p.Users = users[:limit]
		p.NextCursor = strconv.FormatInt(p.Users[limit-1].ID, 36)
	}
	return p, nil
}

// GetUser returns a user to an admin or to that user.
func (s *Service) GetUser(ctx context.Context, a Actor, id int64) (User, error) {
	if err := requireSelfOrAdmin(a, id); err != nil {
		return User{}, err
	}
	return s.store.UserByID(ctx, id)
}

// Patch holds the fields a PATCH may change; nil leaves a field alone.
type Patch struct {
	Username *string
	Email    *string
	Role     *Role
}

// UpdateUser changes a user when version is still current. Users may change
// their own username and email; only admins change roles, never root's.
func (s *Service) UpdateUser(ctx context.Context, a Actor, id int64, pre Precondition, p Patch) (User, error) {
	if err := requireSelfOrAdmin(a, id); err != nil {
		return User{}, err
	}
	v := &ValidationError{}
	if p.Username != nil {
		checkUsername(v, *p.Username)
	}
	if p.Email != nil {
		e := NormalizeEmail(*p.Email)
		p.Email = &e
		checkEmail(v, e)
	}
	if p.Role != nil {
		checkRole(v, *p.Role)
		if !a.IsAdmin() {
			return User{}, ErrForbidden
		}
	}
	if p.Username == nil && p.Email == nil && p.Role == nil {
		v.add("body", "must change at least one of username, email, role")
	}
	if err := v.orNil(); err != nil {
		return User{}, err
	}
	var u User
	err := s.store.InTx(ctx, func(st Store) error {
		// Locked: concurrent writers take turns, so the precondition is
		// checked against the version this write replaces.
		cur, err := st.UserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if !pre.Matches(cur.Version) {
			return ErrVersionMismatch
		}
		if p.Role != nil && cur.IsRoot && *p.Role != RoleAdmin {
			return ErrRootProtected
		}
		// Root's name and address are root's alone: another admin who could
		// rename root could hand the name "root" (and its trust) to someone else.
		if cur.IsRoot && !a.User.IsRoot && (p.Username != nil || p.Email != nil) {
			return ErrRootProtected
		}
		u, err = st.UpdateUser(ctx, id, cur.Version, UserChanges{Username: p.Username, Email: p.Email, Role: p.Role})
		if err != nil {
			return err
		}
		changed := []string{}
		if p.Username != nil && *p.Username != cur.Username {
			changed = append(changed, "username")
		}
		if p.Email != nil && *p.Email != cur.Email {
			changed = append(changed, "email")
		}
		if p.Role != nil && *p.Role != cur.Role {
			changed = append(changed, "role")
		}
		return s.audit(ctx, st, a, ActionUserUpdated, &u, map[string]any{"fields": changed})
	})
	s.auth.forgetUser(id)
	return u, err
}

// DeleteUser removes an account; admins only, never root, never oneself.
func (s *Service) DeleteUser(ctx context.Context, a Actor, id int64) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	if a.User.ID == id {
		return ErrSelfDelete
	}
	var avatar string
	err := s.store.InTx(ctx, func(st Store) error {
		u, err := st.UserByID(ctx, id)
		if err != nil {
			return err
		}
		if u.IsRoot {
			return ErrRootProtected
		}
		if err := st.DeleteUser(ctx, id); err != nil {
			return err
		}
		avatar = u.AvatarKey
		return s.audit(ctx, st, a, ActionUserDeleted, &u, map[string]any{"role": string(u.Role)})
	})
	s.auth.forgetUser(id)
	if err != nil {
		return err
	}
	s.removeBlob(ctx, avatar)
	return nil
}

// removeBlob deletes an object that no row refers to any more; failure only
// leaves an orphan behind, so it is logged, not returned.
func (s *Service) removeBlob(ctx context.Context, key string) {
	if key == "" {
		return
	}
	if err := s.blobs.Delete(ctx, key); err != nil {
		s.log.WarnContext(ctx, "orphaned blob left behind", "key", key, "err", err)
	}
}

// ChangePassword lets users change their own password, proving the current
// one. Their other sessions and tokens are revoked.
func (s *Service) ChangePassword(ctx context.Context, a Actor, id int64, current, next string) (User, error) {
	if a.User.ID != id {
		return User{}, ErrForbidden
	}
	cred, err := s.store.CredentialByID(ctx, id)
	if err != nil {
		return User{}, err
	}
	v := &ValidationError{}
	if len(current) > 4*password.MaxLength {
		v.add("current_password", "is not your current password")
		return User{}, v
	}
	// A stolen session must not become a password oracle: the current
	// password is checked under the same limits as a sign-in.
	switch err := s.checkPassword(ctx, cred, a.ClientIP, current); {
	case errors.Is(err, ErrBadCredentials):
		v.add("current_password", "is not your current password")
		return User{}, v
	case err != nil:
		return User{}, err
	}
	if reason := s.policy.Check(next, cred.Username, emailLocal(cred.Email)); reason != "" {
		v.add("new_password", reason)
	} else if current == next {
		v.add("new_password", "must differ from the current password")
	}
	if err := v.orNil(); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.Hash(next)
	if err != nil {
		return User{}, fmt.Errorf("accounts: hash: %w", err)
	}
	var u User
	err = s.store.InTx(ctx, func(st Store) error {
		off := false
		var err error
		u, err = st.UpdateUser(ctx, id, cred.Version, UserChanges{PasswordHash: &hash, ForcePasswordChange: &off})
		if err != nil {
			return err
		}
		if _, err := st.DeleteUserSessions(ctx, id, a.SessionID); err != nil {
			return err
		}
		if err := st.ClearAttempts(ctx, AccountSubject(id), AllSources); err != nil {
			return err
		}
		return s.audit(ctx, st, a, ActionUserPasswordChanged, &u, nil)
	})
	s.auth.forgetUser(id)
	return u, err
}

// ResetPassword sets a temporary password chosen by an admin (or generated
// when empty, and returned) that must be changed at next sign-in. Every
// session of the user is revoked. Only root may reset root's password.
func (s *Service) ResetPassword(ctx context.Context, a Actor, id int64, temporary string) (User, string, error) {
	if err := requireAdmin(a); err != nil {
		return User{}, "", err
	}
	cred, err := s.store.CredentialByID(ctx, id)
	if err != nil {
		return User{}, "", err
	}
	if cred.IsRoot && !a.User.IsRoot {
		return User{}, "", ErrRootProtected
	}
	generated := ""
	if temporary == "" {
		if temporary, err = GeneratePassword(); err != nil {
			return User{}, "", err
		}
		generated = temporary
	} else if reason := s.policy.Check(temporary, cred.Username, emailLocal(cred.Email)); reason != "" {
		return User{}, "", &ValidationError{Fields: map[string]string{"password": reason}}
	}
	hash, err := s.hasher.Hash(temporary)
	if err != nil {
		return User{}, "", fmt.Errorf("accounts: hash: %w", err)
	}
	var u User
	err = s.store.InTx(ctx, func(st Store) error {
		on := true
		var err error
		u, err = st.UpdateUser(ctx, id, cred.Version, UserChanges{PasswordHash: &hash, ForcePasswordChange: &on})
		if err != nil {
			return err
		}
		if _, err := st.DeleteUserSessions(ctx, id, 0); err != nil {
			return err
		}
		// A new password ends any lock-out: the owner must be able to use it.
		if err := st.ClearAttempts(ctx, AccountSubject(id), AllSources); err != nil {
			return err
		}
		return s.audit(ctx, st, a, ActionUserPasswordReset, &u, nil)
	})
	s.auth.forgetUser(id)
	if err != nil {
		return User{}, "", err
	}
	return u, generated, nil
}

// SetAvatar stores an uploaded image as the user's avatar: a PNG or JPEG of
// at most 1 MiB and 2048 px a side whose decoding fits the memory budget,
// re-encoded at 8 bits per channel without its metadata.
func (s *Service) SetAvatar(ctx context.Context, a Actor, id int64, data []byte) (User, error) {
	if err := requireSelfOrAdmin(a, id); err != nil {
		return User{}, err
	}
	img, err := s.avatarImage(ctx, data)
	if err != nil {
		return User{}, err
	}
	if _, err := s.store.UserByID(ctx, id); err != nil {
		return User{}, err
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return User{}, fmt.Errorf("accounts: random: %w", err)
	}
	key := fmt.Sprintf("avatars/%d/%x.%s", id, rnd, img.Ext)
	if err := s.blobs.Put(ctx, key, bytes.NewReader(img.Data), int64(len(img.Data)), img.ContentType); err != nil {
		return User{}, blobError("store avatar", err)
	}
	// The client sent no precondition: an upload replaces whatever avatar
	// is current, so the row is locked for the read-modify-write and a
	// second upload at the same moment waits instead of failing.
	var u, replaced User
	err = s.store.InTx(ctx, func(st Store) error {
		cur, err := st.UserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		replaced = cur
		u, err = st.UpdateUser(ctx, id, cur.Version, UserChanges{AvatarKey: &key})
		if err != nil {
			return err
		}
		return s.audit(ctx, st, a, ActionUserAvatarChanged, &u, map[string]any{
			"content_type": img.ContentType, "bytes": len(img.Data), "uploaded_bytes": len(data),
			"width": img.Width, "height": img.Height})
	})
	s.auth.forgetUser(id)
	if err != nil {
		s.removeBlob(ctx, key)
		return User{}, err
	}
	s.removeBlob(ctx, replaced.AvatarKey)
	return u, nil
}

// blobError wraps an object-store failure; one the store could not answer
// is ErrUnavailable, a 503 to the client like a database that is down.
func blobError(op string, err error) error {
	if errors.Is(err, blob.ErrUnavailable) {
		return fmt.Errorf("accounts: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("accounts: %s: %w", op, err)
}

// avatarWait bounds how long an upload waits for decode memory while others
// are being decoded, before it is told to retry.
const avatarWait = 15 * time.Second

// avatarImage checks and re-encodes an uploaded avatar within the decode budget.
func (s *Service) avatarImage(ctx context.Context, data []byte) (imaging.Image, error) {
	v := &ValidationError{}
	switch {
	case len(data) == 0:
		v.add("avatar", "is empty")
		return imaging.Image{}, v
	case len(data) > MaxAvatarBytes:
		v.add("avatar", "must be at most 1 MiB")
		return imaging.Image{}, v
	}
	ctx, cancel := context.WithTimeout(ctx, avatarWait)
	defer cancel()
	img, err := s.images.Normalize(ctx, data)
	var tooLarge *imaging.TooLargeError
	switch {
	case err == nil:
		return img, nil
	case errors.Is(err, imaging.ErrNotImage):
		v.add("avatar", "must be a complete PNG or JPEG image")
	case errors.As(err, &tooLarge):
		v.add("avatar", tooLarge.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return imaging.Image{}, fmt.Errorf("%w: too many images being decoded: %w", ErrUnavailable, err)
	default:
		return imaging.Image{}, err
	}
	return imaging.Image{}, v
}

// Avatar opens a user's avatar for an admin or that user.
func (s *Service) Avatar(ctx context.Context, a Actor, id int64) (io.ReadCloser, blob.Info, error) {
	if err := requireSelfOrAdmin(a, id); err != nil {
		return nil, blob.Info{}, err
	}
	u, err := s.store.UserByID(ctx, id)
	if err != nil {
		return nil, blob.Info{}, err
	}
	if u.AvatarKey == "" {
		return nil, blob.Info{}, ErrNotFound
	}
	rc, info, err := s.blobs.Get(ctx, u.AvatarKey)
	switch {
	case errors.Is(err, blob.ErrNotFound):
		return nil, blob.Info{}, ErrNotFound
	case err != nil:
		return nil, blob.Info{}, blobError("read avatar", err)
	}
	return rc, info, nil
}

// AuditTrail returns a page of audit events, newest first; admins only.
func (s *Service) AuditTrail(ctx context.Context, a Actor, beforeID int64, limit int) ([]AuditEvent, error) {
	if err := requireAdmin(a); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit || beforeID < 0 {
		return nil, &ValidationError{Fields: map[string]string{"limit": "must be between 1 and 100"}}
	}
	return s.store.ListAuditEvents(ctx, beforeID, limit)
}

// CountUsers returns how many accounts exist.
func (s *Service) CountUsers(ctx context.Context) (int64, error) { return s.store.CountUsers(ctx) }
