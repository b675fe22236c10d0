// Package s3 is a [blob.Store] in an S3-compatible object store (Amazon
// S3's REST API: PutObject, GetObject with Range (RFC 9110 section 14),
// multipart upload, UploadPartCopy, ListObjectsV2), for parties that run
// several caucus nodes. It speaks to the store with
// github.com/minio/minio-go/v7: one module with a handful of small
// dependencies, where the AWS SDK for Go v2 needs a dozen modules (smithy,
// the service, signer, credentials chain and config loaders) for the same
// calls, and minio-go is tested against many S3 implementations, not AWS
// alone.
//
// # Layout
//
// Every key begins with [Config.Prefix]. A blob lives at
// prefix+"b/"+ref[:2]+"/"+ref (the fan-out spreads keys over 256 prefixes,
// which is how S3 scales its request rate). Uploads that take several parts
// go first to prefix+"tmp/"+ref+"."+random.
//
// # Writing
//
// A blob's key is its SHA-256, known only once the whole content has been
// read, and its encryption (below) binds the key, so Put first spills the
// content to a local temporary file while hashing it (in [Config.SpillDir],
// unlinked at once so that a crash leaves nothing), then uploads from that
// file, encrypting on the fly: memory use does not depend on the blob's
// size. A blob already stored is not sent again.
//
// An object of at most [Config.PartSize] bytes goes up in one PUT, straight
// to its key: S3 makes an object visible only when its PUT completes, so no
// half-written blob is ever seen. A larger one goes up as a multipart
// upload, in parallel parts, to a temporary key, and is then copied by the
// server to its own key and the temporary one deleted. The copy costs the
// server a second write but keeps the collectors safe: S3 dates a multipart
// object by the start of its upload, so an upload lasting longer than the
// collectors' grace (an hour) would look old, and unreferenced, the moment
// it appeared; the copy is dated when it completes.
//
// # Garbage collection across nodes
//
// Walk lists only the blobs' keys, never the temporary ones, and reports
// each blob with its S3 LastModified time, so a blob another node has just
// stored is younger than the collectors' grace and spared while that node
// commits the rows that refer to it. [Store.Sweep] deletes temporary
// objects and unfinished multipart uploads older than [SweepAge], left by a
// node that crashed mid-upload: no live upload lasts that long.
//
// # Encryption
//
// Objects are encrypted with AES-256-GCM under a master key caucus holds
// ([Config.Key]), in the format described beside [ErrCorrupt] (crypt.go),
// so that the object store's operator can read nothing of the party's mail
// and files, and can neither alter a blob nor swap two without caucus
// noticing. Losing the key loses every blob: it belongs in the backups.
// Every node must have the same key: the first to open a store writes a
// key check object (prefix+"key-check", a known text encrypted like a
// blob) and every node that opens it later must read it back, or is
// refused with [ErrWrongKey] before it writes a blob nobody else could
// read.
//
// # Deadlines
//
// Every read and write on a connection to the store has a deadline of
// [Config.Timeout] (the connection is wrapped), and so has the wait for an
// answer's header; Has and Delete have it as their whole deadline. Open's
// reader streams one GET for as long as its caller reads, and starts it
// again once where it stopped if the connection breaks. A request that
// fails is tried at most three times.
//
// # Reading
//
// Open streams the object with one GET from the first byte wanted to the
// end (a mail's body, whole, in one request), decrypting and checking a
// chunk at a time; a seek elsewhere starts another GET there.
//
// With a [Config.Cache], Open reads a copy of the object on the node's
// disk when there is one, and otherwise fetches the object whole into the
// cache (one GET, shared by readers of the same blob at once) and reads
// that; an object larger than a cache entry may be streams as above. Put
// hands the cache the object it just stored (written in the background).
// The copy is checked as the object is, chunk by chunk: a copy that fails
// (cut short, damaged) is dropped and the read goes on from the store, at
// the same place, so a bad copy is never served. Has never asks the cache,
// and Delete drops the copy (other nodes' copies linger until evicted; see
// package cache for why that is harmless). KeepCopy and ReadCopy keep and
// read, the same way, copies of contents the store does not hold (a
// small file's, kept in the database).
package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/caucus-org/caucus/internal/blob"
	"github.com/caucus-org/caucus/internal/blob/cache"
	"github.com/caucus-org/caucus/internal/fsutil"
)

// Defaults of [Config].
const (
	// DefaultPartSize is the default [Config.PartSize], 64 MiB.
	DefaultPartSize = 64 << 20
	// MinPartSize is S3's smallest part, 5 MiB.
	MinPartSize = 5 << 20
	// DefaultTimeout is the default [Config.Timeout].
	DefaultTimeout = 2 * time.Minute
	// SweepAge is how old a temporary object or an unfinished multipart
	// upload must be before [Store.Sweep] deletes it.
	SweepAge = 24 * time.Hour
)

// Config says where the store is and how to reach it.
type Config struct {
	// Endpoint is the store's host:port, e.g. "s3.eu-central-1.amazonaws.com"
	// or "127.0.0.1:8333".
	Endpoint string
	// Insecure speaks plain HTTP instead of HTTPS: for a store on the
	// same machine or in tests only.
	Insecure bool
	// Region is the bucket's region; empty lets the client ask.
	Region string
	// Bucket is the bucket, which must exist.
	Bucket string
	// Prefix begins every key, e.g. "mail/": several stores share a
	// bucket under different prefixes.
	Prefix string
	// AccessKey and SecretKey sign the requests (AWS Signature Version 4).
	AccessKey, SecretKey string
	// Key is the master key, [KeySize] bytes, that objects are encrypted
	// under.
	Key []byte
	// SpillDir is where Put spills content before uploading it; empty
	// for os.TempDir().
	SpillDir string
	// PartSize is the size of an upload's parts, and the largest object
	// sent in one PUT; at least [MinPartSize]. Zero for [DefaultPartSize].
	PartSize int64
	// Timeout bounds every read and write on a connection, and each
	// request made without a caller's context. Zero for [DefaultTimeout].
	Timeout time.Duration
	// RootCAs, if not nil, are the certificates that verify the store's
	// (a private CA's); nil for the system's roots.
	RootCAs *x509.CertPool
	// Cache, if not nil, keeps on the node's disk copies of the objects
	// read or stored lately, as they are in the store (sealed), so that
	// reading them again costs no request (see "Reading" in the package
	// doc). Several stores (owners) may share one: a Ref's content is the
	// same whichever prefix holds it.
	Cache *cache.Cache
}

// Store is the [blob.Store] in an S3 bucket. Its methods are safe for
// concurrent use, also by several processes and nodes.
type Store struct {
	client *minio.Client
	core   minio.Core
	cfg    Config
	chunks *sync.Pool // the sealers' buffers (newChunkPool)
	small  *sync.Pool // Put's buffers for small contents (*[]byte of memPut+1)
	bufs   *sync.Pool // the buffers of cached reads (newBufPool)
}

// memPut is the largest content Put reads into memory, to hash and upload
// from there, rather than into a spill file: on this project's test host
// making a file costs ~230 µs and was, with writing it, 40% of the CPU of
// a 64 KiB WebDAV upload's own process. A Put needs at most this much
// memory more for it.
const memPut = 256 << 10

var _ blob.Store = (*Store)(nil)

// New returns the store cfg describes, after checking that its bucket can
// be reached within ctx.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Key) != KeySize {
		return nil, fmt.Errorf("blob/s3: master key of %d bytes, want %d", len(cfg.Key), KeySize)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("blob/s3: part size %d is below S3's minimum %d", cfg.PartSize, MinPartSize)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.SpillDir == "" {
		cfg.SpillDir = os.TempDir()
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    !cfg.Insecure,
		Region:    cfg.Region,
		Transport: transport(cfg.Timeout, cfg.RootCAs),
		// Path-style requests: every S3 implementation takes them.
		BucketLookup: minio.BucketLookupPath,
		// A request that failed is tried at most twice more (minio-go's
		// default of 10, with its back-off, held a reader of a silent
		// store for ten timeouts).
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("blob/s3: %w", err)
	}
	s := &Store{client: client, core: minio.Core{Client: client}, cfg: cfg, chunks: newChunkPool(),
		small: &sync.Pool{New: func() any { b := make([]byte, memPut+1); return &b }}, bufs: newBufPool()}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: bucket %s at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("blob/s3: bucket %s does not exist at %s", cfg.Bucket, cfg.Endpoint)
	}
	if err := s.checkKey(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// ErrWrongKey reports that the store's objects are encrypted under
// another key than the one configured: a node given another node's key
// file, or none, would otherwise store blobs the others cannot read.
var ErrWrongKey = errors.New("blob/s3: the object store's blobs are encrypted with another key")

// keyCheck is what the key check object holds, encrypted like a blob, at
// prefix+"key-check": the first node to open the store writes it, and
// every node checks on opening that it reads back under its key.
var keyCheck = []byte("caucus blob store key check, version 1\n")

// checkKey reads the key check object, writing it first if there is
// none (with If-None-Match: *, so that of two nodes starting at once one
// writes it and the other reads it), and fails with [ErrWrongKey] if it
// does not open under the store's key.
func (s *Store) checkKey(ctx context.Context) error {
	sum := sha256.Sum256(keyCheck)
	ref := blob.RefOf(sum[:])
	name := s.cfg.Prefix + "key-check"
	err := s.readKeyCheck(ctx, name, ref)
	if isNotFound(err) {
		if werr := s.writeKeyCheck(ctx, name, ref); werr != nil {
			return werr
		}
		err = s.readKeyCheck(ctx, name, ref)
	}
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w (%s in bucket %s)", ErrWrongKey, name, s.cfg.Bucket)
	}
	if err != nil {
		return fmt.Errorf("blob/s3: reading the key check: %w", err)
	}
	return nil
}

// writeKeyCheck writes the key check object unless there is one.
func (s *Store) writeKeyCheck(ctx context.Context, name string, ref blob.Ref) error {
	sl, err := newSealer(bytes.NewReader(keyCheck), int64(len(keyCheck)), s.cfg.Key, ref, s.chunks)
	if err != nil {
		return err
	}
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	_, err = s.client.PutObject(ctx, s.cfg.Bucket, name, io.NewSectionReader(sl, 0, sl.size), sl.size, opts)
	if err != nil && minio.ToErrorResponse(err).StatusCode != http.StatusPreconditionFailed {
		return fmt.Errorf("blob/s3: writing the key check: %w", err)
	}
	return nil
}

// readKeyCheck reads the key check object and opens it.
func (s *Store) readKeyCheck(ctx context.Context, name string, ref blob.Ref) error {
	obj, err := s.client.GetObject(ctx, s.cfg.Bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, 4096))
	if err != nil {
		return err
	}
	o, err := newOpener(bytes.NewReader(data), int64(len(data)), nil, s.cfg.Key, ref)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(o)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, keyCheck) {
		return fmt.Errorf("%w: key check", ErrCorrupt)
	}
	return nil
}

// transport is the HTTP transport of a store: every connection's reads
// and writes get a deadline of timeout, and TLS (1.2 at least) verifies
// the store's certificate with roots (the system's when nil).
func transport(timeout time.Duration, roots *x509.CertPool) *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the store is named in the configuration; no proxy from the environment
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &deadlineConn{Conn: c, timeout: timeout}, nil
	}
	tr.ResponseHeaderTimeout = timeout
	tr.IdleConnTimeout = min(90*time.Second, timeout)
	tr.MaxIdleConnsPerHost = 32
	return tr
}

// deadlineConn gives each Read and Write a deadline: a store that stops
// answering, or stops taking data, fails the request instead of holding
// it for ever.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// key is the object key of the blob ref.
func (s *Store) key(ref blob.Ref) string {
	return s.cfg.Prefix + "b/" + string(ref[:2]) + "/" + string(ref)
}

// blobsPrefix is the prefix of every blob's key; tmpPrefix, of every
// temporary object's.
func (s *Store) blobsPrefix() string { return s.cfg.Prefix + "b/" }
func (s *Store) tmpPrefix() string   { return s.cfg.Prefix + "tmp/" }

// checkRef returns an error matching [blob.ErrBadRef] if ref is malformed.
func checkRef(ref blob.Ref) error {
	_, err := blob.ParseRef(string(ref))
	return err
}

// isNotFound reports whether err is S3's answer for a missing key.
func isNotFound(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.Code == minio.NoSuchKey || resp.StatusCode == http.StatusNotFound
}

// Put stores the content read from r and returns its reference and size,
// as [blob.Store] says: it spills r to a local file while hashing it, and
// uploads that file unless the blob is stored already. When Put returns
// nil, the object store has acknowledged the whole object.
func (s *Store) Put(ctx context.Context, r io.Reader, limit int64) (blob.Ref, int64, error) {
	return s.PutNamed(ctx, r, limit, nil)
}

// PutNamed is Put that asks named, if not nil, whether any row refers to
// the content once its Ref is known, and when none does uploads it without
// the HEAD request that looks whether the store holds it already (see
// [blob.NamedPutter]): no reader can be reading an object that nothing
// names, so a PUT that replaces it cuts no read short.
func (s *Store) PutNamed(ctx context.Context, r io.Reader, limit int64, named func(blob.Ref) (bool, error)) (blob.Ref, int64, error) {
	if src, n, ok := rereadable(r); ok {
		return s.putRereadable(ctx, src, n, limit, named)
	}
	buf := s.small.Get().(*[]byte)
	defer s.small.Put(buf)
	m, err := io.ReadFull(r, *buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF: // all of it: at most memPut
		if err := ctx.Err(); err != nil {
			return "", 0, fmt.Errorf("blob/s3: put: %w", context.Cause(ctx))
		}
		return s.putRereadable(ctx, bytes.NewReader((*buf)[:m]), int64(m), limit, named)
	case err != nil:
		return "", 0, fmt.Errorf("blob/s3: put: reading: %w", err)
	}
	if limit > 0 && int64(m) > limit {
		return "", 0, fmt.Errorf("%w: more than %d bytes", blob.ErrTooLarge, limit)
	}
	r = io.MultiReader(bytes.NewReader((*buf)[:m]), r)
	f, err := os.CreateTemp(s.cfg.SpillDir, "caucus-s3-put-")
	if err != nil {
		return "", 0, fmt.Errorf("blob/s3: put: %w", err)
	}
	defer f.Close()
	// Unlinked at once: the open file lives on, and a crash leaves nothing.
	os.Remove(f.Name())
	h := sha256.New()
	n, err := spill(ctx, io.MultiWriter(f, h), r, limit)
	if err != nil {
		return "", 0, err
	}
	return s.finish(ctx, h, f, n, named)
}

// rereadable returns the unread part of r as a ReaderAt and its length
// when r can give it again without a copy: a *bytes.Reader or
// *strings.Reader (a message in memory) or an *io.SectionReader.
func rereadable(r io.Reader) (io.ReaderAt, int64, bool) {
	switch r := r.(type) {
	case interface {
		io.ReaderAt
		Len() int
		Size() int64
	}: // *bytes.Reader, *strings.Reader
		n := int64(r.Len())
		return io.NewSectionReader(r, r.Size()-n, n), n, true
	case *io.SectionReader:
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, 0, false
		}
		return io.NewSectionReader(r, off, r.Size()-off), r.Size() - off, true
	}
	return nil, 0, false
}

// putRereadable is Put of content that can be read twice: hashed where
// it is and uploaded from there, without the spill file (a file made,
// written and read per Put).
func (s *Store) putRereadable(ctx context.Context, src io.ReaderAt, n, limit int64, named func(blob.Ref) (bool, error)) (blob.Ref, int64, error) {
	if limit > 0 && n > limit {
		return "", 0, fmt.Errorf("%w: more than %d bytes", blob.ErrTooLarge, limit)
	}
	h := sha256.New()
	if _, err := spill(ctx, h, io.NewSectionReader(src, 0, n), 0); err != nil {
		return "", 0, err
	}
	return s.finish(ctx, h, src, n, named)
}

// finish names content of n bytes by its hash h and uploads it from src,
// unless the store has it already; with named not nil, it looks only if
// named says a row refers to the content (see PutNamed).
func (s *Store) finish(ctx context.Context, h hash.Hash, src io.ReaderAt, n int64, named func(blob.Ref) (bool, error)) (blob.Ref, int64, error) {
	ref := blob.RefOf(h.Sum(nil))
	look := true
	if named != nil {
		var err error
		if look, err = named(ref); err != nil {
			return "", 0, fmt.Errorf("blob/s3: put: %w", err)
		}
	}
	if look { // else nothing names it: stored whether or not the store holds it
		if ok, err := s.has(ctx, ref); err != nil {
			return "", 0, fmt.Errorf("blob/s3: put: %w", err)
		} else if ok {
			return ref, n, nil
		}
	}
	if err := s.upload(ctx, src, n, ref); err != nil {
		return "", 0, err
	}
	return ref, n, nil
}

// spill copies r to w until EOF and returns the bytes copied, checking ctx
// before every Read and failing with [blob.ErrTooLarge] past limit (when
// limit > 0).
func spill(ctx context.Context, w io.Writer, r io.Reader, limit int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("blob/s3: put: %w", context.Cause(ctx))
		}
		k, rerr := r.Read(buf)
		n += int64(k)
		if limit > 0 && n > limit {
			return n, fmt.Errorf("%w: more than %d bytes", blob.ErrTooLarge, limit)
		}
		if _, err := w.Write(buf[:k]); err != nil {
			return n, fmt.Errorf("blob/s3: put: spilling: %w", err)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, fmt.Errorf("blob/s3: put: reading: %w", rerr)
		}
	}
	// A last check, so a cancellation during the final Read is honoured.
	if err := ctx.Err(); err != nil {
		return n, fmt.Errorf("blob/s3: put: %w", context.Cause(ctx))
	}
	return n, nil
}

// upload encrypts the blob ref of n bytes that src holds and stores it:
// in one PUT to its key, or, larger than a part, in parts to a temporary
// key that the server then copies to the blob's.
func (s *Store) upload(ctx context.Context, src io.ReaderAt, n int64, ref blob.Ref) error {
	sl, err := newSealer(src, n, s.cfg.Key, ref, s.chunks)
	if err != nil {
		return err
	}
	opts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    uint64(s.cfg.PartSize),
		NumThreads:  4,
	}
	body := io.NewSectionReader(sl, 0, sl.size)
	if sl.size <= s.cfg.PartSize {
		if _, err := s.client.PutObject(ctx, s.cfg.Bucket, s.key(ref), body, sl.size, opts); err != nil {
			return fmt.Errorf("blob/s3: put %s: %w", ref, err)
		}
		s.keep(ref, sl)
		return nil
	}
	tmp := s.tmpPrefix() + string(ref) + "." + randomHex(8)
	if _, err := s.client.PutObject(ctx, s.cfg.Bucket, tmp, body, sl.size, opts); err != nil {
		return fmt.Errorf("blob/s3: put %s: %w", ref, err)
	}
	defer func() {
		// On success and on failure alike; should this fail too, Sweep
		// removes the temporary object later.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
		defer cancel()
		s.client.RemoveObject(dctx, s.cfg.Bucket, tmp, minio.RemoveObjectOptions{})
	}()
	_, err = s.client.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: s.key(ref)},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: tmp})
	if err != nil {
		return fmt.Errorf("blob/s3: put %s: copying from %s: %w", ref, tmp, err)
	}
	return nil
}

// randomHex returns n random bytes in hexadecimal.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Has reports whether the blob ref exists.
func (s *Store) Has(ref blob.Ref) (bool, error) {
	if err := checkRef(ref); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	ok, err := s.has(ctx, ref)
	if err != nil {
		return false, fmt.Errorf("blob/s3: %s: %w", ref, err)
	}
	return ok, nil
}

func (s *Store) has(ctx context.Context, ref blob.Ref) (bool, error) {
	_, err := s.client.StatObject(ctx, s.cfg.Bucket, s.key(ref), minio.StatObjectOptions{})
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// Delete removes the blob ref; deleting a missing blob is no error (S3's
// DeleteObject answers 204 either way).
func (s *Store) Delete(ref blob.Ref) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.key(ref), minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		return fmt.Errorf("blob/s3: delete %s: %w", ref, err)
	}
	if s.cfg.Cache != nil {
		s.cfg.Cache.Remove(ref)
	}
	return nil
}

// Open opens the blob ref for reading. The reader streams the object
// with a GET from the first byte it needs to the end, so that reading a
// blob through is one request; a seek elsewhere starts another GET there.
// Each GET is pinned to the ETag of the first (a blob deleted and stored
// again meanwhile fails the read rather than mixing two objects), and
// every chunk is checked before a byte of it is given out: a damaged
// object's reads fail with [ErrCorrupt]. Close ends the GET in progress.
func (s *Store) Open(ref blob.Ref) (io.ReadSeekCloser, error) {
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	if s.cfg.Cache != nil {
		return s.openCached(ref)
	}
	return s.openRemote(ref)
}

// openRemote opens the blob ref from the store.
func (s *Store) openRemote(ref blob.Ref) (io.ReadSeekCloser, error) {
	src := &objectReader{s: s, key: s.key(ref)}
	err := src.get(0)
	if isNotFound(err) {
		return nil, fmt.Errorf("%w: %s", blob.ErrNotFound, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("blob/s3: open %s: %w", ref, err)
	}
	return s.openFrom(ref, src)
}

// openFrom opens the blob ref from src, whose first GET is under way.
func (s *Store) openFrom(ref blob.Ref, src *objectReader) (io.ReadSeekCloser, error) {
	// The first window, no larger than the object: a mail's body is
	// read whole here.
	first := make([]byte, min(src.size, headerSize+windowChunks*sealedSize))
	n, err := src.ReadAt(first, 0)
	if err != nil && err != io.EOF {
		src.Close()
		return nil, fmt.Errorf("blob/s3: open %s: %w", ref, err)
	}
	o, err := newOpener(src, src.size, first[:n], s.cfg.Key, ref)
	if err != nil {
		src.Close()
		return nil, err
	}
	return readCloser{o, src}, nil
}

// readCloser is an opener whose Close ends its GET.
type readCloser struct {
	*opener
	src *objectReader
}

func (r readCloser) Close() error { return r.src.Close() }

// objectReader reads one object: an [io.ReaderAt] that serves reads in
// sequence from one GET, and starts a new one, from the offset asked to
// the object's end, for a read elsewhere. It is not safe for concurrent
// use (an opener reads from one goroutine).
type objectReader struct {
	s      *Store
	key    string
	etag   string // of the first GET; later ones require it
	size   int64  // the object's, known after the first GET
	body   io.ReadCloser
	pos    int64 // the object's offset body reads next
	cancel context.CancelFunc
}

// ReadAt implements [io.ReaderAt]. A read past the object's end returns
// the bytes there are with io.EOF.
func (r *objectReader) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.body != nil && r.pos != off {
		r.Close()
	}
	if r.body == nil {
		if r.etag != "" && off >= r.size {
			return 0, io.EOF
		}
		if err := r.get(off); err != nil {
			return 0, err
		}
	}
	want := int(min(int64(len(p)), max(r.size-off, 0)))
	n := 0
	for retried := false; ; retried = true {
		k, err := io.ReadFull(r.body, p[n:want])
		n += k
		r.pos += int64(k)
		if err == nil {
			break
		}
		r.Close()
		if retried {
			return n, fmt.Errorf("reading %s: %w", r.key, err)
		}
		// The GET was cut: by the network, or by the store after the
		// caller paused. Once, start another where it stopped.
		if err := r.get(r.pos); err != nil {
			return n, err
		}
	}
	if r.pos == r.size {
		// Read through: let the connection go back to the pool.
		io.Copy(io.Discard, io.LimitReader(r.body, 1))
		r.Close()
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// get starts a GET of the object from off to its end.
func (r *objectReader) get(off int64) error {
	var opts minio.GetObjectOptions
	// "bytes=off-" (RFC 9110 section 14.1.2): to the end, whatever it is.
	opts.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	if r.etag != "" {
		if err := opts.SetMatchETag(r.etag); err != nil {
			return err
		}
	}
	// No deadline on the whole GET, which streams as long as the reader
	// reads: the transport bounds the wait for the answer's header, and
	// each read on the connection (deadlineConn).
	ctx, cancel := context.WithCancel(context.Background())
	body, info, hdr, err := r.s.core.GetObject(ctx, r.s.cfg.Bucket, r.key, opts)
	if err != nil {
		cancel()
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, r.key, err)
		}
		return err
	}
	size, err := info.Size, error(nil)
	if cr := hdr.Get("Content-Range"); cr != "" || off != 0 {
		// A server that ignores Range answers the whole object, which
		// is right only from the start.
		size, err = totalSize(cr)
	}
	if err != nil {
		body.Close()
		cancel()
		return err
	}
	if r.etag == "" {
		r.etag, r.size = info.ETag, size
	} else if size != r.size {
		body.Close()
		cancel()
		return fmt.Errorf("%w: %s changed size while read", ErrCorrupt, r.key)
	}
	r.body, r.pos, r.cancel = body, off, cancel
	return nil
}

// Close ends the GET in progress, if any.
func (r *objectReader) Close() error {
	if r.body != nil {
		r.body.Close()
		r.cancel()
		r.body, r.cancel = nil, nil
	}
	return nil
}

// totalSize returns the complete length in a Content-Range header (RFC
// 9110 section 14.4): "bytes first-last/complete".
func totalSize(cr string) (int64, error) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok || !strings.HasPrefix(cr, "bytes ") {
		return 0, fmt.Errorf("blob/s3: Content-Range %q in a ranged answer", cr)
	}
	n, err := strconv.ParseInt(total, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("blob/s3: Content-Range %q in a ranged answer", cr)
	}
	return n, nil
}

// Walk calls fn for every blob, with its size and its LastModified time.
// An object whose size no blob encrypts to (not made by this package) is
// reported with size 0, so that a collector may remove it; opening it
// fails with [ErrCorrupt].
func (s *Store) Walk(fn func(ref blob.Ref, info fs.FileInfo) error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the listing when fn fails
	for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.blobsPrefix(), Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("blob/s3: walk: %w", obj.Err)
		}
		name := obj.Key[strings.LastIndexByte(obj.Key, '/')+1:]
		ref, err := blob.ParseRef(name)
		if err != nil || obj.Key != s.key(ref) {
			continue // not one of ours
		}
		size, _ := plainLen(obj.Size)
		if err := fn(ref, fileInfo{name: name, size: size, mod: obj.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

// fileInfo is a blob's [fs.FileInfo] in Walk.
type fileInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return 0o400 }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

// Sweep deletes what crashed uploads left: temporary objects and
// unfinished multipart uploads under the store's prefix that are older
// than age ([SweepAge] when age <= 0). It returns how many it removed.
// Any node may run it at any time: a live upload is never that old.
func (s *Store) Sweep(ctx context.Context, age time.Duration) (int, error) {
	if age <= 0 {
		age = SweepAge
	}
	cutoff := time.Now().Add(-age)
	removed := 0
	for obj := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.tmpPrefix(), Recursive: true}) {
		if obj.Err != nil {
			return removed, fmt.Errorf("blob/s3: sweep: %w", obj.Err)
		}
		if obj.LastModified.Before(cutoff) {
			if err := s.client.RemoveObject(ctx, s.cfg.Bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
				return removed, fmt.Errorf("blob/s3: sweep: %w", err)
			}
			removed++
		}
	}
	for up := range s.client.ListIncompleteUploads(ctx, s.cfg.Bucket, s.cfg.Prefix, true) {
		if up.Err != nil {
			return removed, fmt.Errorf("blob/s3: sweep: %w", up.Err)
		}
		if up.Initiated.Before(cutoff) {
			if err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, up.Key, up.UploadID); err != nil && !isNotFound(err) {
				return removed, fmt.Errorf("blob/s3: sweep: %w", err)
			}
			removed++
		}
	}
	return removed, nil
}

// errNoKey is returned by LoadKey for a key file of the wrong size.
var errNoKey = errors.New("blob/s3: key file")

// LoadKey reads the master key from the file at path: [KeySize] bytes.
// With create, a missing file is made with a new random key (mode 0600);
// without, a missing file is an error, as every node of a party must use
// the same key.
func LoadKey(path string, create bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		b = make([]byte, KeySize)
		rand.Read(b)
		if err := writeKey(path, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blob/s3: key: %w", err)
	}
	if len(b) != KeySize {
		return nil, fmt.Errorf("%w %s: %d bytes, want %d", errNoKey, path, len(b), KeySize)
	}
	return b, nil
}

// writeKey writes a new key file durably, with its directory.
func writeKey(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("blob/s3: key: %w", err)
	}
	if err := fsutil.WriteFile(path, key, 0o600); err != nil {
		return fmt.Errorf("blob/s3: key: %w", err)
	}
	return nil
}
