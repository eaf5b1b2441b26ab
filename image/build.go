package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image.
const (
	binaryPath  = "usr/local/bin/foresight"           // the entrypoint
	caCertsPath = "etc/ssl/certs/ca-certificates.crt" // where Go's crypto/x509 looks first on Linux
	userID      = 65532                               // distroless's "nonroot"
)

// options say what to build.
type options struct {
	// binary is a statically linked foresight for Linux.
	binary string
	// caCerts is a PEM bundle of the CA certificates the image trusts, so
	// that foresight can reach https datasources.
	caCerts string
	// ref names the image in the tarball, e.g. foresight:v0.1.0; "" is
	// foresight:VERSION, VERSION being the binary's own.
	ref string
	// source is the org.opencontainers.image.source label.
	source string
}

// binaryInfo is what the image takes from the binary's build information.
type binaryInfo struct {
	version, revision, goos, goarch string
	created                         time.Time
}

// inspect checks that path is a statically linked Go binary for Linux and
// returns its version, revision and platform.
func inspect(path string) (binaryInfo, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return binaryInfo{}, fmt.Errorf("%s is not a Go binary with build information: %w (build it with go build ./cmd/foresight)", path, err)
	}
	info := binaryInfo{version: bi.Main.Version}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	info.goos, info.goarch, info.revision = settings["GOOS"], settings["GOARCH"], settings["vcs.revision"]
	if settings["vcs.modified"] == "true" && info.revision != "" {
		info.revision += "-dirty"
	}
	// The image's time stamps: the commit's time, so that the same commit
	// gives the same image; else the Unix epoch, as reproducible builds do.
	info.created = time.Unix(0, 0).UTC()
	if t, err := time.Parse(time.RFC3339, settings["vcs.time"]); err == nil {
		info.created = t.UTC()
	}
	if info.version == "" || info.version == "(devel)" {
		info.version = "dev"
	}
	if info.goos != "linux" {
		return binaryInfo{}, fmt.Errorf("%s is built for %s: build it with GOOS=linux", path, info.goos)
	}
	if settings["CGO_ENABLED"] != "0" {
		return binaryInfo{}, fmt.Errorf("%s was built with cgo: build it with CGO_ENABLED=0, since the image has no C library", path)
	}
	if err := checkStatic(path); err != nil {
		return binaryInfo{}, err
	}
	return info, nil
}

// checkStatic refuses an ELF file that needs a dynamic loader or shared
// libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it names a program interpreter): build it with CGO_ENABLED=0", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v: build it with CGO_ENABLED=0", path, libs)
	}
	return nil
}

// build returns the image: no base, one layer with the binary, the CA
// certificates and the passwd and group entries of the user it runs as.
func build(o options) (v1.Image, name.Tag, error) {
	info, err := inspect(o.binary)
	if err != nil {
		return nil, name.Tag{}, err
	}
	if o.ref == "" {
		o.ref = "foresight:" + strings.ReplaceAll(info.version, "+", "-")
	}
	tag, err := name.NewTag(o.ref)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image name %q: %w (write it as NAME:TAG)", o.ref, err)
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, name.Tag{}, err
	}
	certs, err := os.ReadFile(o.caCerts)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("CA certificates: %w (install Debian's ca-certificates, or give --ca-certificates)", err)
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, name.Tag{}, fmt.Errorf("%s holds no PEM certificate", o.caCerts)
	}

	layerTar, err := rootfs(info.created, []file{
		{path: "etc/", mode: 0o755 | fs.ModeDir},
		{path: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", userID, userID)},
		{path: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", userID)},
		{path: "etc/ssl/", mode: 0o755 | fs.ModeDir},
		{path: "etc/ssl/certs/", mode: 0o755 | fs.ModeDir},
		{path: caCertsPath, mode: 0o644, data: certs},
		{path: "home/", mode: 0o755 | fs.ModeDir},
		{path: "home/nonroot/", mode: 0o700 | fs.ModeDir, uid: userID},
		{path: "tmp/", mode: 0o777 | fs.ModeDir | fs.ModeSticky},
		{path: "usr/", mode: 0o755 | fs.ModeDir},
		{path: "usr/local/", mode: 0o755 | fs.ModeDir},
		{path: "usr/local/bin/", mode: 0o755 | fs.ModeDir},
		{path: binaryPath, mode: 0o755, data: bin},
	})
	if err != nil {
		return nil, name.Tag{}, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("layer: %w", err)
	}

	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: info.created}, CreatedBy: "foresight image builder: /usr/local/bin/foresight and CA certificates", Comment: "image/build.go"},
	})
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("append the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, name.Tag{}, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = info.goos, info.goarch, v1.Time{Time: info.created}
	labels := map[string]string{
		"org.opencontainers.image.title":       "foresight",
		"org.opencontainers.image.description": "Predictive autoscaling for Kubernetes: the KEDA external scaler foresight serve",
		"org.opencontainers.image.version":     info.version,
		"org.opencontainers.image.created":     info.created.Format(time.RFC3339),
	}
	if info.revision != "" {
		labels["org.opencontainers.image.revision"] = info.revision
	}
	if o.source != "" {
		labels["org.opencontainers.image.source"] = o.source
	}
	cf.Config = v1.Config{
		User:         fmt.Sprintf("%d:%d", userID, userID),
		Entrypoint:   []string{"/" + binaryPath},
		WorkingDir:   "/",
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		ExposedPorts: map[string]struct{}{"9090/tcp": {}, "8080/tcp": {}},
		Labels:       labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("image config: %w", err)
	}
	img = mutate.Annotations(img, labels).(v1.Image)
	return img, tag, nil
}

// file is one entry of the layer.
type file struct {
	path string
	mode fs.FileMode
	uid  int
	data []byte
}

// rootfs returns the uncompressed tar of files, every time stamp set to
// mtime so that the same inputs give the same layer digest.
func rootfs(mtime time.Time, files []file) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name: f.path, Mode: int64(f.mode.Perm()), Uid: f.uid, Gid: f.uid, ModTime: mtime,
			Typeflag: tar.TypeReg, Size: int64(len(f.data)), Format: tar.FormatPAX,
		}
		if f.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		if f.mode.IsDir() {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer %s: %w", f.path, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("layer %s: %w", f.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// write writes img to out as one tarball that is both an OCI image layout
// (oci-layout, index.json, blobs/) and a docker save archive
// (manifest.json naming the same blobs), as docker save has written since
// Docker 25: docker load, kind load image-archive, ctr images import,
// skopeo and crane all read it.
func write(img v1.Image, tag name.Tag, out string) error {
	dir, err := os.MkdirTemp("", "foresight-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("OCI layout: %w", err)
	}
	if err := p.WriteImage(img); err != nil {
		return fmt.Errorf("OCI layout: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	size, err := img.Size()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	// The descriptor is written by hand, without the artifactType that
	// layout.AppendImage adds: this is an image, not an artifact.
	if err := p.AppendDescriptor(v1.Descriptor{
		MediaType: mt, Size: size, Digest: digest,
		Annotations: map[string]string{
			"org.opencontainers.image.ref.name": tag.TagStr(),
			// containerd's name for it (ctr images import, kind load).
			"io.containerd.image.name": strings.Replace(tag.Name(), name.DefaultRegistry+"/", "docker.io/", 1),
		},
	}); err != nil {
		return fmt.Errorf("OCI layout: %w", err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	entry := tarball.Descriptor{Config: blob(cfgName), RepoTags: []string{tag.String()}}
	for _, l := range m.Layers {
		entry.Layers = append(entry.Layers, blob(l.Digest))
	}
	manifest, err := json.Marshal(tarball.Manifest{entry})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), manifest, 0o644); err != nil {
		return err
	}
	return tarDir(dir, out)
}

// tarDir writes the files under dir to the tarball out, sorted, with fixed
// time stamps and owners.
func tarDir(dir, out string) (err error) {
	var paths []string
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	}); err != nil {
		return err
	}
	slices.Sort(paths)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	tw := tar.NewWriter(f)
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Name, h.Typeflag, h.Mode = h.Name+"/", tar.TypeDir, 0o755
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			continue
		}
		h.Typeflag, h.Size = tar.TypeReg, fi.Size()
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		src.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}
