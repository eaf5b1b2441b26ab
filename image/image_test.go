package main

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/elf"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// foresightBin is foresight built as `make image` builds it, by TestMain.
var foresightBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "foresight-image-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	foresightBin = filepath.Join(dir, "foresight")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=auto", "-ldflags=-s -w", "-o", foresightBin, "./cmd/foresight")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build foresight:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// caBundle writes a PEM bundle of one self-signed certificate.
func caBundle(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "image test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca-certificates.crt")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestImage builds the image tarball, reads it back both as a docker save
// archive and as an OCI image layout, unpacks its file system and runs
// the binary found there.
func TestImage(t *testing.T) {
	certs := caBundle(t)
	out := filepath.Join(t.TempDir(), "foresight-image.tar")
	img, tag, err := build(options{binary: foresightBin, caCerts: certs, ref: "foresight:test", source: "https://example.com/foresight"})
	if err != nil {
		t.Fatal(err)
	}
	if err := write(img, tag, out); err != nil {
		t.Fatal(err)
	}

	// The docker save side: what docker load and kind load read.
	docker, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatalf("read as a docker archive: %v", err)
	}
	cf, err := docker.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root, distroless's nonroot)", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/local/bin/foresight" || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want the foresight binary and no command", c.Entrypoint, c.Cmd)
	}
	if cf.OS != "linux" || cf.Architecture == "" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	version := c.Labels["org.opencontainers.image.version"]
	for _, l := range []string{"title", "version", "created", "source"} {
		if c.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("no org.opencontainers.image.%s label: %v", l, c.Labels)
		}
	}

	// The OCI layout side: what ctr images import, skopeo and crane read.
	dir := t.TempDir()
	untar(t, out, dir)
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("read as an OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "test" ||
		im.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/library/foresight:test" {
		t.Fatalf("index %+v: want one image named foresight:test", im.Manifests)
	}
	oci, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := oci.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want OCI", mt)
	}
	// A docker archive has no manifest (readers make one up), so the two
	// sides are compared by their config and layers.
	ociConfig, _ := oci.ConfigName()
	dockerConfig, _ := docker.ConfigName()
	ociLayers, _ := oci.Layers()
	dockerLayers, _ := docker.Layers()
	if ociConfig != dockerConfig || len(ociLayers) != 1 || len(dockerLayers) != 1 {
		t.Fatalf("OCI config %s and %d layers, docker config %s and %d layers", ociConfig, len(ociLayers), dockerConfig, len(dockerLayers))
	}
	ociLayer, _ := ociLayers[0].Digest()
	dockerLayer, _ := dockerLayers[0].Digest()
	if ociLayer != dockerLayer {
		t.Errorf("OCI layer %s, docker layer %s", ociLayer, dockerLayer)
	}

	// The file system.
	files := map[string]*tar.Header{}
	contents := map[string][]byte{}
	rc := mutate.Extract(docker)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		if contents[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
	bin := files["usr/local/bin/foresight"]
	if bin == nil || bin.Mode&0o777 != 0o755 || bin.Uid != 0 {
		t.Fatalf("usr/local/bin/foresight: %+v, want mode 0755 owned by root (not writable by the user it runs as)", bin)
	}
	wantCerts, _ := os.ReadFile(certs)
	if !bytes.Equal(contents[caCertsPath], wantCerts) {
		t.Errorf("%s does not hold the CA bundle given", caCertsPath)
	}
	if !strings.Contains(string(contents["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("etc/passwd has no entry for 65532:\n%s", contents["etc/passwd"])
	}

	extracted := filepath.Join(t.TempDir(), "foresight")
	if err := os.WriteFile(extracted, contents["usr/local/bin/foresight"], 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(extracted)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a program interpreter: it is not static, and the image has no loader")
		}
	}
	f.Close()
	if len(libs) > 0 {
		t.Errorf("the binary needs %v, which the image does not have", libs)
	}
	got, err := exec.Command(extracted, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("foresight version: %v\n%s", err, got)
	}
	if strings.TrimSpace(string(got)) != "foresight "+version {
		t.Errorf("foresight version printed %q, the image's version label is %q", got, version)
	}
}

// TestImageReproducible: the same binary gives the same image digest, so
// that a rebuild can be checked against a published image.
func TestImageReproducible(t *testing.T) {
	certs := caBundle(t)
	var digests []string
	for range 2 {
		img, _, err := build(options{binary: foresightBin, caCerts: certs})
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the same binary: %v", digests)
	}
}

// TestRefuses: binaries the empty image cannot run are refused, with the
// fix in the message.
func TestRefuses(t *testing.T) {
	src := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":  "module hello\n\ngo 1.26\n",
		"main.go": "package main\n\nimport \"os\"\n\nfunc main() { os.Exit(0) }\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gobuild := func(out string, env ...string) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), out)
		cmd := exec.Command("go", "build", "-o", path, ".")
		cmd.Dir, cmd.Env = src, append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", out, err, b)
		}
		return path
	}
	cases := map[string]struct{ binary, want string }{
		"not Go":    {"/bin/sh", "is not a Go binary"},
		"not Linux": {gobuild("darwin", "GOOS=darwin", "CGO_ENABLED=0"), "is built for darwin: build it with GOOS=linux"},
	}
	if _, err := exec.LookPath("gcc"); err == nil {
		cases["cgo"] = struct{ binary, want string }{gobuild("cgo", "CGO_ENABLED=1"), "built with cgo: build it with CGO_ENABLED=0"}
	} else {
		t.Log("no gcc: the cgo case is not checked")
	}
	cases["static"] = struct{ binary, want string }{gobuild("static", "CGO_ENABLED=0", "GOOS=linux"), ""}
	certs := caBundle(t)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := build(options{binary: c.binary, caCerts: certs})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("a static Linux Go binary was refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, dir+string(os.PathSeparator)) {
			t.Fatalf("%s escapes the archive", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(path, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
