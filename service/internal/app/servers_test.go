package app

import (
	"log/slog"
	"net/http"
	"testing"
)

// TestListenersBoundWhatAClientHolds: both listeners time out slow and idle
// connections (the admin one kept idle keep-alives forever before).
func TestListenersBoundWhatAClientHolds(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for name, srv := range map[string]*http.Server{
		"public": newPublicServer(http.NotFoundHandler(), log),
		"admin":  newAdminServer(http.NotFoundHandler(), log),
	} {
		t.Run(name, func(t *testing.T) {
			if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 {
				t.Errorf("read/write timeouts unset: %+v", srv)
			}
			if srv.IdleTimeout <= 0 || srv.IdleTimeout > srv.WriteTimeout*4 {
				t.Errorf("IdleTimeout %s: idle keep-alive connections must be closed", srv.IdleTimeout)
			}
			if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<20 {
				t.Errorf("MaxHeaderBytes %d", srv.MaxHeaderBytes)
			}
		})
	}
}
