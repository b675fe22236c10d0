package server

// The WebDAV PUT's promise under a crash: a file appears only once it is
// complete and durable, so killing caucus at any moment of an upload never
// leaves a partial or corrupt file visible, and every upload answered 201
// is there afterwards.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/caucus-org/caucus/files"
)

var webAddrLog = regexp.MustCompile(`\bweb=https://localhost:([0-9]+)`)

// crashContent is the content of an upload named name: its size is in the
// name, its bytes come from a generator seeded by the name.
func crashContent(name string) []byte {
	m := regexp.MustCompile(`-([0-9]+)\.bin$`).FindStringSubmatch(name)
	if m == nil {
		return nil
	}
	size, _ := strconv.Atoi(m[1])
	seed := sha256.Sum256([]byte(name))
	r := rand.NewChaCha8(seed)
	b := make([]byte, size)
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}

func TestDAVCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("kills caucus mid-upload in crash rounds; go test without -short runs it")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	srv, _ := startDev(t, dir)
	secret := newFilesAccount(t, srv, "crash@localhost")
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: devTLS(t, dir)}, Timeout: 30 * time.Second}

	var mu sync.Mutex
	acked := map[string]bool{}
	const rounds, workers = 6, 4
	for round := range rounds {
		child := startCrashChild(t, dir)
		m := webAddrLog.FindStringSubmatch(child.stderr.tail())
		if m == nil {
			t.Fatalf("no web address in the child's log:\n%s", child.stderr.tail())
		}
		base := "https://127.0.0.1:" + m[1] + "/dav/Home/"
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					size := 8 + rand.IntN(4<<20)
					name := fmt.Sprintf("r%d-w%d-%d-%d.bin", round, w, k, size)
					req, _ := http.NewRequestWithContext(context.Background(), "PUT", base+name, bytes.NewReader(crashContent(name)))
					req.Host = "localhost"
					req.SetBasicAuth("crash@localhost", secret)
					resp, err := client.Do(req)
					if err != nil {
						return // killed
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						mu.Lock()
						acked[name] = true
						mu.Unlock()
					}
				}
			})
		}
		time.Sleep(time.Duration(100+rand.IntN(900)) * time.Millisecond)
		child.kill(t)
		close(stop)
		wg.Wait()
	}

	srv, _ = startDev(t, dir)
	defer srv.Shutdown(context.Background())
	acct, err := srv.auth.AccountByLogin(t.Context(), "crash@localhost")
	if err != nil {
		t.Fatal(err)
	}
	a := files.Actor{ID: acct.ID, Login: acct.Login}
	list, err := srv.files.List(t.Context(), a, "/Home")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range list {
		want := crashContent(n.Name)
		rc, _, err := srv.files.Open(t.Context(), a, n.ID)
		if err != nil {
			t.Fatalf("%s: %v", n.Name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) || n.Size != int64(len(want)) {
			t.Errorf("%s: visible but partial or corrupt (%d of %d bytes, %v)", n.Name, len(got), len(want), err)
		}
		seen[n.Name] = true
	}
	for name := range acked {
		if !seen[name] {
			t.Errorf("%s was answered 201 but is gone", name)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no upload completed in any round: the test proves nothing")
	}
	t.Logf("%d rounds: %d uploads acknowledged, %d files visible, all intact", rounds, len(acked), len(seen))
}
