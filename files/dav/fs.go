package dav

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/caucus-org/caucus/files"
	"golang.org/x/net/webdav"
)

// reqState carries what the file system learns during one request to the
// handler: the store error behind a failure (for the status code), the
// announced body size and whether reading the body failed.
type reqState struct {
	mu      sync.Mutex
	err     error // the last store error
	size    int64 // Content-Length of a PUT, -1 if unknown
	bodyErr error // reading the request body failed: never commit
	// A GET without conditions, which will read the content whole or in
	// part: it is opened with the lookup (a conditional GET opens it only
	// if the conditions call for the content, and records no read if not).
	plainGet bool

	// A PROPFIND: the lock properties are added to the dead ones (x/net/webdav
	// has no lockdiscovery and lists only exclusive locks as supported);
	// supportedlock only when asked for by name, since allprop lists
	// x/net/webdav's too.
	propfind, supportedLock bool
}

func (st *reqState) fail(err error) error {
	st.mu.Lock()
	st.err = err
	st.mu.Unlock()
	return err
}

func (st *reqState) lastErr() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// fileSystem is webdav.FileSystem over the store, as one account sees it.
// Names are resolved by the store from the account's roots only: nothing
// maps to the OS file system, so no path escapes.
type fileSystem struct {
	store *files.Store
	actor files.Actor
	st    *reqState
	locks *memberLocks
	warm  *warmPool // over HTTP/2: where a PUT's store call runs
}

// osErr turns store errors into the os errors x/net/webdav tests for,
// remembering the store error for the status code.
func (f *fileSystem) osErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	f.st.fail(err)
	switch {
	case errors.Is(err, files.ErrNotFound):
		return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
	case errors.Is(err, files.ErrExists):
		return &os.PathError{Op: op, Path: name, Err: os.ErrExist}
	}
	return err
}

// split returns the folder and the last name of a cleaned path.
func split(name string) (dir, base string) {
	name = path.Clean("/" + name)
	dir, base = path.Split(name)
	return dir, base
}

func (f *fileSystem) Mkdir(ctx context.Context, name string, perm os.FileMode) error {
	dir, base := split(name)
	if base == "" {
		return f.osErr("mkdir", name, files.ErrExists)
	}
	// MKCOL of what exists is 405, a virtual folder's included (RFC 4918
	// section 9.3.1), before asking whether its folder takes new ones.
	if _, err := f.store.Stat(ctx, f.actor, name); err == nil {
		return f.osErr("mkdir", name, files.ErrExists)
	}
	parent, err := f.store.Stat(ctx, f.actor, dir)
	if err != nil {
		return f.osErr("mkdir", name, err)
	}
	_, err = f.store.Mkdir(ctx, f.actor, parent.ID, base)
	return f.osErr("mkdir", name, err)
}

func (f *fileSystem) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (webdav.File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC|os.O_APPEND) == 0 {
		if f.st.plainGet {
			// The node and its content at once: a small file's in the
			// same statement as the path.
			n, rc, err := f.store.OpenPath(ctx, f.actor, name)
			if err != nil {
				return nil, f.osErr("open", name, err)
			}
			return &file{fs: f, ctx: ctx, node: n, rc: rc}, nil
		}
		// Read, or O_RDWR for PROPPATCH's dead properties: the content
		// is replaced only through O_TRUNC.
		n, err := f.store.Stat(ctx, f.actor, name)
		if err != nil {
			return nil, f.osErr("open", name, err)
		}
		return &file{fs: f, ctx: ctx, node: n}, nil
	}
	// Writing: x/net/webdav opens with O_RDWR|O_CREATE|O_TRUNC for PUT, for
	// the destination of COPY, and for LOCK of an unmapped URL.
	if flag&os.O_APPEND != 0 {
		return nil, f.osErr("open", name, files.ErrForbidden)
	}
	dir, base := split(name)
	parent, err := f.store.Folder(ctx, f.actor, dir)
	if err != nil {
		return nil, f.osErr("open", name, err)
	}
	if !parent.Dir {
		return nil, f.osErr("open", name, files.ErrNotFound)
	}
	// Put refuses a name that is a folder (ErrIsDir) before it reads.
	return &writer{fs: f, ctx: ctx, name: name, parent: parent, base: base, size: f.st.size}, nil
}

func (f *fileSystem) RemoveAll(ctx context.Context, name string) error {
	n, err := f.store.Stat(ctx, f.actor, name)
	if err != nil {
		return f.osErr("remove", name, err)
	}
	if n.Virtual {
		return f.osErr("remove", name, files.ErrForbidden)
	}
	return f.osErr("remove", name, f.store.Delete(ctx, f.actor, n.ID))
}

func (f *fileSystem) Rename(ctx context.Context, oldName, newName string) error {
	n, err := f.store.Stat(ctx, f.actor, oldName)
	if err != nil {
		return f.osErr("rename", oldName, err)
	}
	if n.Virtual {
		return f.osErr("rename", oldName, files.ErrForbidden)
	}
	dir, base := split(newName)
	parent, err := f.store.Stat(ctx, f.actor, dir)
	if err != nil {
		return f.osErr("rename", newName, err)
	}
	_, err = f.store.Move(ctx, f.actor, n.ID, parent.ID, base)
	return f.osErr("rename", newName, err)
}

func (f *fileSystem) Stat(ctx context.Context, name string) (os.FileInfo, error) {
	n, err := f.store.Stat(ctx, f.actor, name)
	if err != nil {
		return nil, f.osErr("stat", name, err)
	}
	return info{&n}, nil
}

// info is a node as os.FileInfo, with its ETag and content type so that
// x/net/webdav neither invents one nor opens the file to sniff it. It
// points to the node, so that a file's Stat copies nothing.
type info struct{ n *files.Node }

func (i info) Name() string {
	if i.n.Path == "/" {
		return "/"
	}
	return i.n.Name
}
func (i info) Size() int64 { return i.n.Size }
func (i info) Mode() fs.FileMode {
	if i.n.Dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i info) ModTime() time.Time {
	if i.n.Virtual {
		return time.Unix(0, 0)
	}
	return i.n.ModTime
}
func (i info) IsDir() bool { return i.n.Dir }
func (i info) Sys() any    { return nil }

func (i info) ETag(ctx context.Context) (string, error) {
	if i.n.Virtual {
		return `"virtual"`, nil
	}
	return `"` + i.n.ETag + `"`, nil
}

func (i info) ContentType(ctx context.Context) (string, error) {
	if i.n.Dir {
		return "httpd/unix-directory", nil
	}
	if t := mime.TypeByExtension(path.Ext(i.n.Name)); t != "" {
		return t, nil
	}
	return "application/octet-stream", nil
}

// file is a node opened for reading (or a folder for listing). The content
// is opened on the first Read or Seek: PROPFIND opens every file only for
// its properties.
type file struct {
	fs   *fileSystem
	ctx  context.Context
	node files.Node
	rc   io.ReadSeekCloser
	pos  int64
}

func (f *file) open() error {
	if f.rc != nil {
		return nil
	}
	if f.node.Dir {
		return files.ErrIsDir
	}
	rc, err := f.fs.store.OpenNode(f.ctx, f.fs.actor, f.node)
	if err != nil {
		return err
	}
	f.rc = rc
	return nil
}

func (f *file) Read(p []byte) (int, error) {
	if err := f.open(); err != nil {
		return 0, err
	}
	return f.rc.Read(p)
}

func (f *file) Seek(off int64, whence int) (int64, error) {
	if f.node.Dir {
		return 0, nil
	}
	if err := f.open(); err != nil {
		return 0, err
	}
	return f.rc.Seek(off, whence)
}

func (f *file) Write(p []byte) (int, error) { return 0, files.ErrForbidden }

func (f *file) Close() error {
	if f.rc != nil {
		return f.rc.Close()
	}
	return nil
}

func (f *file) Stat() (os.FileInfo, error) { return info{&f.node}, nil }

func (f *file) Readdir(count int) ([]os.FileInfo, error) {
	if !f.node.Dir {
		return nil, files.ErrNotDir
	}
	ns, err := f.fs.store.List(f.ctx, f.fs.actor, f.node.Path)
	if err != nil {
		return nil, f.fs.osErr("readdir", f.node.Path, err)
	}
	out := make([]os.FileInfo, 0, len(ns))
	for i := range ns {
		out = append(out, info{&ns[i]})
	}
	return out, nil
}

// DeadProps and Patch keep PROPPATCH's properties in the store. For a
// PROPFIND, DeadProps adds the lock properties (see reqState).
func (f *file) DeadProps() (map[xml.Name]webdav.Property, error) {
	m := map[xml.Name]webdav.Property{}
	if !f.node.Virtual {
		ps, err := f.fs.store.Props(f.ctx, f.fs.actor, f.node.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			n := xml.Name{Space: p.Space, Local: p.Name}
			m[n] = webdav.Property{XMLName: n, Lang: p.Lang, InnerXML: p.XML}
		}
	}
	if f.fs.st.propfind && f.fs.locks != nil {
		disc, err := f.fs.locks.lockDiscovery(time.Now(), f.node.Path)
		if err != nil {
			return nil, err
		}
		n := xml.Name{Space: "DAV:", Local: "lockdiscovery"}
		m[n] = webdav.Property{XMLName: n, InnerXML: []byte(disc)}
		if f.fs.st.supportedLock {
			n := xml.Name{Space: "DAV:", Local: "supportedlock"}
			m[n] = webdav.Property{XMLName: n, InnerXML: []byte(supportedLock)}
		}
	}
	return m, nil
}

func (f *file) Patch(patches []webdav.Proppatch) ([]webdav.Propstat, error) {
	status := http.StatusOK
	var ops []files.PropPatch
	var names []webdav.Property
	for _, pp := range patches {
		for _, p := range pp.Props {
			ops = append(ops, files.PropPatch{Prop: files.Prop{Space: p.XMLName.Space, Name: p.XMLName.Local, Lang: p.Lang, XML: p.InnerXML}, Remove: pp.Remove})
			names = append(names, webdav.Property{XMLName: p.XMLName})
		}
	}
	if f.node.Virtual {
		status = http.StatusForbidden
	} else if err := f.fs.store.PatchProps(f.ctx, f.fs.actor, f.node.ID, ops); err != nil {
		if !errors.Is(err, files.ErrForbidden) && !errors.Is(err, files.ErrNotFound) {
			return nil, err
		}
		status = http.StatusForbidden
	}
	return []webdav.Propstat{{Status: status, Props: names}}, nil
}

// writer stores a PUT's body (or a COPY's source) as a file. x/net/webdav
// fills it with io.Copy, which calls ReadFrom: the store then reads the
// body itself, in the request's goroutine, and commits the file only once
// the body has ended whole. Write, for any other caller, streams through a
// pipe into a Put running aside; Close commits that, or an empty file if
// nothing was written (LOCK of an unmapped URL).
type writer struct {
	fs      *fileSystem
	ctx     context.Context
	name    string
	parent  files.Node // as looked up for this request (see Store.PutIn)
	base    string
	size    int64 // announced, -1 if unknown
	started bool  // by ReadFrom or Write
	done    chan struct{}
	pw      *io.PipeWriter // Write's pipe
	node    files.Node
	err     error
}

func (w *writer) put(r io.Reader) {
	if w.fs.warm == nil {
		w.node, w.err = w.fs.store.PutIn(w.ctx, w.fs.actor, w.parent, w.base, r, w.size)
		return
	}
	w.fs.warm.run(func() {
		w.node, w.err = w.fs.store.PutIn(w.ctx, w.fs.actor, w.parent, w.base, r, w.size)
	})
}

func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	if w.started {
		return 0, w.fs.osErr("write", w.name, files.ErrForbidden)
	}
	w.started = true
	w.put(r)
	if w.err != nil {
		return 0, w.fs.osErr("write", w.name, w.err)
	}
	return w.node.Size, nil
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		var pr *io.PipeReader
		pr, w.pw = io.Pipe()
		w.done = make(chan struct{})
		go func() {
			defer close(w.done)
			w.put(pr)
			pr.CloseWithError(w.err)
		}()
	}
	if w.pw == nil {
		return 0, w.fs.osErr("write", w.name, files.ErrForbidden)
	}
	n, err := w.pw.Write(p)
	if err != nil {
		return n, w.fs.osErr("write", w.name, err)
	}
	return n, nil
}

func (w *writer) Close() error {
	switch {
	case !w.started:
		w.started = true
		w.put(strings.NewReader(""))
	case w.pw != nil:
		w.fs.st.mu.Lock()
		bodyErr := w.fs.st.bodyErr
		w.fs.st.mu.Unlock()
		if bodyErr != nil {
			w.pw.CloseWithError(bodyErr)
		} else {
			w.pw.Close()
		}
		<-w.done
		w.pw = nil
	}
	if w.err != nil {
		return w.fs.osErr("close", w.name, w.err)
	}
	return nil
}

func (w *writer) Read(p []byte) (int, error)                { return 0, files.ErrForbidden }
func (w *writer) Seek(off int64, whence int) (int64, error) { return 0, files.ErrForbidden }
func (w *writer) Readdir(int) ([]os.FileInfo, error)        { return nil, files.ErrNotDir }

// Stat is called by x/net/webdav before Close; the ETag it gives is asked
// for after Close, so it reads the committed node then.
func (w *writer) Stat() (os.FileInfo, error) { return &pending{w}, nil }

type pending struct{ w *writer }

// committed returns the outcome of the writer's Put once it has returned.
func (w *writer) committed() (n files.Node, ok bool, err error) {
	if !w.started || w.pw != nil {
		return files.Node{}, false, nil
	}
	return w.node, true, w.err
}

func (p *pending) Name() string { return p.w.base }
func (p *pending) Size() int64 {
	n, _, _ := p.w.committed()
	return n.Size
}
func (p *pending) Mode() fs.FileMode { return 0o644 }
func (p *pending) ModTime() time.Time {
	n, _, _ := p.w.committed()
	return n.ModTime
}
func (p *pending) IsDir() bool { return false }
func (p *pending) Sys() any    { return nil }
func (p *pending) ETag(ctx context.Context) (string, error) {
	n, ok, err := p.w.committed()
	switch {
	case !ok:
		return "", webdav.ErrNotImplemented
	case err != nil:
		return "", err
	}
	return `"` + n.ETag + `"`, nil
}
