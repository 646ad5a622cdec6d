package accounts

import "context"

// SetDisabled disables an account, ending every session and token it has
// at once, or enables it again; admins only, never root, never oneself.
// Setting the state it already has changes nothing and writes no audit event.
func (s *Service) SetDisabled(ctx context.Context, a Actor, id int64, disabled bool) (User, error) {
	if err := requireAdmin(a); err != nil {
		return User{}, err
	}
	if a.User.ID == id && disabled {
		return User{}, ErrSelfDisable
	}
	var u User
	err := s.store.InTx(ctx, func(st Store) error {
		cur, err := st.UserForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if cur.IsRoot && disabled {
			return ErrRootProtected
		}
		if cur.Disabled() == disabled {
			u = cur
			return nil
		}
		if u, err = st.UpdateUser(ctx, id, cur.Version, UserChanges{Disabled: &disabled}); err != nil {
			return err
		}
		action, details := ActionUserEnabled, map[string]any{}
		if disabled {
			n, err := st.DeleteUserSessions(ctx, id, 0)
			if err != nil {
				return err
			}
			action, details = ActionUserDisabled, map[string]any{"sessions_ended": n}
		}
		return s.audit(ctx, st, a, action, &u, details)
	})
	// After the commit: no cached authentication outlives it here.
	s.auth.forgetUser(id)
	return u, err
}
