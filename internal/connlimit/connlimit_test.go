package connlimit

import (
	"net"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	t.Parallel()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(2)
	refused := make(chan struct{}, 10)
	ln := l.Listener(raw, func(c net.Conn) {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte("busy\r\n"))
		refused <- struct{}{}
	})
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	a1, a2 := <-accepted, <-accepted
	select {
	case <-refused:
	case <-time.After(2 * time.Second):
		t.Fatal("third connection from one address was not refused")
	}
	if l.Open() != 2 {
		t.Errorf("open = %d, want 2", l.Open())
	}
	buf := make([]byte, 16)
	clients[2].SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _ := clients[2].Read(buf); string(buf[:n]) != "busy\r\n" {
		t.Errorf("refused client read %q", buf[:n])
	}
	a1.Close()
	a1.Close() // twice: counted once
	if l.Open() != 1 {
		t.Errorf("open after close = %d, want 1", l.Open())
	}
	c, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case a3 := <-accepted:
		a3.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("a freed slot was not reused")
	}
	a2.Close()
}
