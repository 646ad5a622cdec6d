package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gopherops/gopherops/service/internal/accounts"
	"github.com/gopherops/gopherops/service/internal/blob"
	"github.com/gopherops/gopherops/service/internal/password"
	"github.com/gopherops/gopherops/service/internal/store/postgres"
	"github.com/gopherops/gopherops/service/pglocal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// world is the accounts service on a database of its own, with the root
// admin, another admin and a user, and a count of password verifications:
// those the service reports (verified) and those the hasher really did
// (hashed).
type world struct {
	svc                *accounts.Service
	root, admin, alice accounts.User
	verified           atomic.Int64
	hashed             atomic.Int64
	// base are the options the service was built with, before opts.
	base accounts.Options
}

// replica is another service on the same database (another replica of
// the application), with its own options changed by opts.
func (w *world) replica(t *testing.T, opts ...func(*accounts.Options)) *accounts.Service {
	t.Helper()
	o := w.base
	for _, opt := range opts {
		opt(&o)
	}
	svc, err := accounts.NewService(o)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// countingHasher counts the verifications a hasher really does.
type countingHasher struct {
	accounts.Hasher
	n *atomic.Int64
}

func (h countingHasher) Verify(encoded, pw string) error {
	h.n.Add(1)
	return h.Hasher.Verify(encoded, pw)
}

const (
	rootPW  = "granite kettle of the northern harbour"
	adminPW = "violet lantern under seven bridges"
	alicePW = "copper meadow beside the quiet river"
)

// newWorld builds the world; opts change the service's options first.
func newWorld(t *testing.T, opts ...func(*accounts.Options)) *world {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	blobs, err := blob.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{}
	o := accounts.Options{
		Store: postgres.New(pool), Hasher: countingHasher{password.NewHasher(password.FastParams), &w.hashed}, Blobs: blobs,
		AuthCacheTTL: -1, OnVerify: func(string) { w.verified.Add(1) },
	}
	w.base = o
	w.svc = w.replica(t, opts...)
	mk := func(name, pw string, role accounts.Role) accounts.User {
		u, err := w.svc.CreateFromCLI(ctx, accounts.NewUser{Username: name, Email: name + "@example.com", Password: pw, Role: role})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return u
	}
	w.root = mk("root", rootPW, accounts.RoleAdmin)
	w.admin = mk("second-admin", adminPW, accounts.RoleAdmin)
	w.alice = mk("alice", alicePW, accounts.RoleUser)
	if !w.root.IsRoot || w.admin.IsRoot {
		t.Fatal("the first admin must be root, the second not")
	}
	return w
}

func (w *world) login(login, pw, ip string) error {
	_, err := w.svc.Login(context.Background(), accounts.LoginInput{Login: login, Password: pw, ClientIP: ip})
	return err
}

func isThrottled(err error) bool {
	var thr *accounts.ThrottledError
	return errors.As(err, &thr)
}

func TestLockout(t *testing.T) {
	const attacker, owner = "203.0.113.66", "198.51.100.10"
	tests := []struct {
		name string
		run  func(t *testing.T, w *world)
	}{
		{"five failures lock that address out, even with the right password", func(t *testing.T, w *world) {
			for i := range 5 {
				if err := w.login("alice", "wrong guess number "+string(rune('a'+i)), attacker); !errors.Is(err, accounts.ErrBadCredentials) {
					t.Fatalf("guess %d: %v", i+1, err)
				}
			}
			if err := w.login("alice", alicePW, attacker); !isThrottled(err) {
				t.Fatalf("right password from the locked address: %v, want throttled", err)
			}
		}},
		{"the owner signs in from their own address during an attack", func(t *testing.T, w *world) {
			for range 12 {
				_ = w.login("alice", "a wrong guess of some length", attacker)
			}
			if err := w.login("alice", alicePW, owner); err != nil {
				t.Fatalf("owner: %v", err)
			}
		}},
		{"a success resets the count: 4 failures, a success, 1 failure do not lock", func(t *testing.T, w *world) {
			for range 4 {
				_ = w.login("alice", "a wrong guess of some length", owner)
			}
			if err := w.login("alice", alicePW, owner); err != nil {
				t.Fatal(err)
			}
			_ = w.login("alice", "a wrong guess of some length", owner)
			if err := w.login("alice", alicePW, owner); err != nil {
				t.Fatalf("after 4 failures, a success and 1 failure: %v", err)
			}
		}},
		{"an admin reset ends the lock-out", func(t *testing.T, w *world) {
			for range 6 {
				_ = w.login("alice", "a wrong guess of some length", owner)
			}
			if err := w.login("alice", alicePW, owner); !isThrottled(err) {
				t.Fatalf("want locked first, got %v", err)
			}
			_, temp, err := w.svc.ResetPassword(context.Background(), accounts.Actor{User: w.admin}, w.alice.ID, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := w.login("alice", temp, owner); err != nil {
				t.Fatalf("the temporary password after a reset: %v", err)
			}
		}},
		{"the current password of a change is throttled like a sign-in", func(t *testing.T, w *world) {
			a := accounts.Actor{User: w.alice, ClientIP: attacker}
			for i := range 5 {
				_, err := w.svc.ChangePassword(context.Background(), a, w.alice.ID, "not the current one at all", "a brand new long password 1")
				var verr *accounts.ValidationError
				if !errors.As(err, &verr) || verr.Fields["current_password"] == "" {
					t.Fatalf("try %d: %v", i+1, err)
				}
			}
			before := w.verified.Load()
			_, err := w.svc.ChangePassword(context.Background(), a, w.alice.ID, alicePW, "a brand new long password 1")
			if !isThrottled(err) {
				t.Fatalf("6th try: %v, want throttled", err)
			}
			if w.verified.Load() != before {
				t.Fatal("a throttled try must not verify a password")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newWorld(t)) })
	}
}

// TestConcurrentGuessesAreCountedExactly: the database admits at most five
// checks per address, however many guesses arrive at once.
func TestConcurrentGuessesAreCountedExactly(t *testing.T) {
	w := newWorld(t)
	before := w.verified.Load()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}[i%3]
			if err := w.login("alice", "a wrong guess of some length", ip); err != nil &&
				!errors.Is(err, accounts.ErrBadCredentials) && !isThrottled(err) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Exactly 5 per address: the database admits five checks per address
	// and account however the 10 guesses of each race, and refuses the rest.
	if got := w.verified.Load() - before; got != 15 {
		t.Fatalf("%d passwords verified for 30 guesses from 3 addresses, want exactly 15 (5 each)", got)
	}
}

func TestUnicodePasswordsOnEveryPath(t *testing.T) {
	const (
		nfc = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e au four"
		nfd = "cafe\u0301 cre\u0300me bru\u0302le\u0301e au four"
	)
	ctx := context.Background()
	w := newWorld(t)
	u, err := w.svc.CreateUser(ctx, accounts.Actor{User: w.admin}, accounts.NewUser{
		Username: "mac-user", Email: "mac@example.com", Password: nfd, Role: accounts.RoleUser})
	if err != nil {
		t.Fatal(err)
	}
	for _, typed := range []string{nfc, nfd} {
		if err := w.login("mac-user", typed, "192.0.2.50"); err != nil {
			t.Fatalf("created NFD, typed %+q: %v", typed, err)
		}
	}
	// Changed with the NFC form, proven with the NFD one.
	next := "n\u00e4chstes Passwort f\u00fcr heute"
	if _, err := w.svc.ChangePassword(ctx, accounts.Actor{User: u, ClientIP: "192.0.2.50"}, u.ID, nfd,
		"na\u0308chstes Passwort fu\u0308r heute"); err != nil {
		t.Fatalf("change with NFD input: %v", err)
	}
	if err := w.login("mac-user", next, "192.0.2.50"); err != nil {
		t.Fatalf("changed in NFD, typed NFC: %v", err)
	}
	// An admin's reset with an NFD temporary password.
	if _, _, err := w.svc.ResetPassword(ctx, accounts.Actor{User: w.admin}, u.ID, nfd+" encore"); err != nil {
		t.Fatal(err)
	}
	if err := w.login("mac-user", nfc+" encore", "192.0.2.50"); err != nil {
		t.Fatalf("reset in NFD, typed NFC: %v", err)
	}
}

func TestRootProtection(t *testing.T) {
	ctx := context.Background()
	newName, newEmail := "not-root-any-more", "someone@example.com"
	adminRole := accounts.RoleUser
	tests := []struct {
		name string
		do   func(w *world) error
		want error // nil: allowed
	}{
		{"another admin cannot rename root", func(w *world) error {
			_, err := w.svc.UpdateUser(ctx, accounts.Actor{User: w.admin}, w.root.ID, accounts.Version(w.root.Version), accounts.Patch{Username: &newName})
			return err
		}, accounts.ErrRootProtected},
		{"another admin cannot change root's email", func(w *world) error {
			_, err := w.svc.UpdateUser(ctx, accounts.Actor{User: w.admin}, w.root.ID, accounts.Version(w.root.Version), accounts.Patch{Email: &newEmail})
			return err
		}, accounts.ErrRootProtected},
		{"root renames itself", func(w *world) error {
			_, err := w.svc.UpdateUser(ctx, accounts.Actor{User: w.root}, w.root.ID, accounts.Version(w.root.Version), accounts.Patch{Username: &newName})
			return err
		}, nil},
		{"nobody demotes root", func(w *world) error {
			_, err := w.svc.UpdateUser(ctx, accounts.Actor{User: w.root}, w.root.ID, accounts.Version(w.root.Version), accounts.Patch{Role: &adminRole})
			return err
		}, accounts.ErrRootProtected},
		{"nobody deletes root", func(w *world) error {
			return w.svc.DeleteUser(ctx, accounts.Actor{User: w.admin}, w.root.ID)
		}, accounts.ErrRootProtected},
		{"another admin cannot reset root's password", func(w *world) error {
			_, _, err := w.svc.ResetPassword(ctx, accounts.Actor{User: w.admin}, w.root.ID, "")
			return err
		}, accounts.ErrRootProtected},
		{"a stale version is refused", func(w *world) error {
			_, err := w.svc.UpdateUser(ctx, accounts.Actor{User: w.admin}, w.alice.ID, accounts.Version(w.alice.Version+1), accounts.Patch{Email: &newEmail})
			return err
		}, accounts.ErrVersionMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			err := tt.do(w)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				// Nothing stored changed.
				got, err := w.svc.GetUser(ctx, accounts.Actor{User: w.root}, w.root.ID)
				if err != nil || got.Username != w.root.Username || got.Email != w.root.Email || !got.IsRoot {
					t.Fatalf("root changed after a refused request: %+v %v", got, err)
				}
			}
		})
	}
}

// TestConcurrentAvatarUploadsAllSucceed: uploads carry no precondition, so
// two at once are not a conflict for the client: each replaces the avatar,
// and only the last one's object is left.
func TestConcurrentAvatarUploadsAllSucceed(t *testing.T) {
	w := newWorld(t)
	img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.svc.SetAvatar(context.Background(), accounts.Actor{User: w.alice}, w.alice.ID, buf.Bytes())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	u, err := w.svc.GetUser(context.Background(), accounts.Actor{User: w.alice}, w.alice.ID)
	if err != nil || u.AvatarKey == "" {
		t.Fatalf("no avatar after the uploads: %+v %v", u, err)
	}
}

// downStore is an object store that cannot be reached.
type downStore struct{ blob.Store }

func (downStore) Put(context.Context, string, io.Reader, int64, string) error {
	return fmt.Errorf("s3: dial: %w", blob.ErrUnavailable)
}

func (downStore) Get(context.Context, string) (io.ReadCloser, blob.Info, error) {
	return nil, blob.Info{}, fmt.Errorf("s3: dial: %w", blob.ErrUnavailable)
}

// TestObjectStoreDownIsUnavailable: an avatar upload or read while the
// object store cannot answer is the service being unavailable (a 503), not
// a failure of the request, and stores nothing.
func TestObjectStoreDownIsUnavailable(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc, err := accounts.NewService(accounts.Options{Store: postgres.New(pool), Hasher: password.NewHasher(password.FastParams),
		Blobs: downStore{}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := svc.CreateFromCLI(ctx, accounts.NewUser{Username: "root", Email: "root@example.com", Password: rootPW, Role: accounts.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetAvatar(ctx, accounts.Actor{User: u}, u.ID, buf.Bytes()); !errors.Is(err, accounts.ErrUnavailable) {
		t.Fatalf("upload with the store down: %v, want ErrUnavailable", err)
	}
	if got, _ := svc.GetUser(ctx, accounts.Actor{User: u}, u.ID); got.AvatarKey != "" {
		t.Fatal("a failed upload recorded an avatar")
	}

	// Stored while the store was up, read while it is down.
	files, err := blob.NewFileStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	up, err := accounts.NewService(accounts.Options{Store: postgres.New(pool), Hasher: password.NewHasher(password.FastParams), Blobs: files})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.SetAvatar(ctx, accounts.Actor{User: u}, u.ID, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Avatar(ctx, accounts.Actor{User: u}, u.ID); !errors.Is(err, accounts.ErrUnavailable) {
		t.Fatalf("read with the store down: %v, want ErrUnavailable", err)
	}
}

// undeletable is an object store that stores and reads but cannot delete.
type undeletable struct{ blob.Store }

func (undeletable) Delete(context.Context, string) error {
	return fmt.Errorf("s3: delete: %w", blob.ErrUnavailable)
}

// TestOrphanedAvatarIsLogged: when a replaced avatar's object cannot be
// deleted, the upload still succeeds and the orphan's key is logged as a
// warning to the logger the service was given (without one, the upload
// succeeds all the same).
func TestOrphanedAvatarIsLogged(t *testing.T) {
	var img bytes.Buffer
	if err := png.Encode(&img, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	for _, withLogger := range []bool{true, false} {
		t.Run(fmt.Sprintf("logger %v", withLogger), func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			var logged bytes.Buffer
			svc := w.replica(t, func(o *accounts.Options) {
				o.Blobs = undeletable{o.Blobs}
				if withLogger {
					o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
				}
			})
			me := accounts.Actor{User: w.alice}
			first, err := svc.SetAvatar(ctx, me, w.alice.ID, img.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			second, err := svc.SetAvatar(ctx, me, w.alice.ID, img.Bytes())
			if err != nil {
				t.Fatalf("replacing the avatar while its old object cannot be deleted: %v", err)
			}
			if first.AvatarKey == "" || second.AvatarKey == first.AvatarKey {
				t.Fatalf("avatar keys %q then %q, want two different ones", first.AvatarKey, second.AvatarKey)
			}
			want := fmt.Sprintf("level=WARN msg=\"orphaned blob left behind\" key=%s ", first.AvatarKey)
			if got := logged.String(); withLogger && !strings.Contains(got, want) {
				t.Fatalf("logged %q, want a line with %q", got, want)
			}
		})
	}
}

// anyVersion is If-Match: * as the domain sees it.
type anyVersion struct{}

func (anyVersion) Matches(int) bool { return true }

// TestPreconditionsUnderConcurrentWriters: a write that accepts any version
// never fails for a race with another writer (issue 19, item 4), while of
// writers that each require the version they read, exactly one wins.
func TestPreconditionsUnderConcurrentWriters(t *testing.T) {
	tests := []struct {
		name     string
		pre      func(read accounts.User) accounts.Precondition
		wantWins int
	}{
		{"any version", func(accounts.User) accounts.Precondition { return anyVersion{} }, 3},
		{"the version read", func(u accounts.User) accounts.Precondition { return accounts.Version(u.Version) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			ctx := context.Background()
			read, err := w.svc.GetUser(ctx, accounts.Actor{User: w.admin}, w.alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var wins, mismatches atomic.Int32
			for i := range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					email := fmt.Sprintf("writer-%d@example.com", i)
					_, err := w.svc.UpdateUser(ctx, accounts.Actor{User: w.admin}, w.alice.ID, tt.pre(read), accounts.Patch{Email: &email})
					switch {
					case err == nil:
						wins.Add(1)
					case errors.Is(err, accounts.ErrVersionMismatch):
						mismatches.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if int(wins.Load()) != tt.wantWins || int(wins.Load()+mismatches.Load()) != 3 {
				t.Fatalf("%d writes won, %d failed their precondition; want %d wins", wins.Load(), mismatches.Load(), tt.wantWins)
			}
			got, err := w.svc.GetUser(ctx, accounts.Actor{User: w.admin}, w.alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != read.Version+tt.wantWins {
				t.Fatalf("version %d after %d writes from %d", got.Version, tt.wantWins, read.Version)
			}
		})
	}
}
