package testutil

import (
	"io"
	"net"
	"net/http"
	"testing"
)

// ServeHTTP answers every request with body from a server listening on
// addr ("127.0.0.1:0" for any free loopback port) until the test ends, and
// returns the port: what a guest fetches from the host in the network tests.
func ServeHTTP(t testing.TB, addr, body string) int {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}
