// Command image builds foresight's container image without a container
// engine: an OCI image with no base layer, holding the static binary, the
// build machine's CA certificates and the passwd entry of user 65532, which
// it runs as. The result is one tarball that is both an OCI image layout and
// a docker save archive:
//
//	CGO_ENABLED=0 go build -o ../bin/foresight-static ../cmd/foresight
//	go run . --binary ../bin/foresight-static --out ../bin/foresight-image.tar
//	docker load -i ../bin/foresight-image.tar     # or: kind load image-archive, skopeo, crane
//
// `make image` does both. The image's version and revision labels come from
// the binary's own build information.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o options
	var out string
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	fs.StringVar(&o.binary, "binary", "", "statically linked foresight `binary` for Linux (CGO_ENABLED=0)")
	fs.StringVar(&o.caCerts, "ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "PEM `bundle` of the CA certificates the image trusts")
	fs.StringVar(&o.ref, "ref", "", "image `name:tag` (default foresight:VERSION, the binary's version)")
	fs.StringVar(&o.source, "source", "https://github.com/foresight-aiops/foresight", "org.opencontainers.image.source `URL`")
	fs.StringVar(&out, "out", "foresight-image.tar", "tarball to write")
	_ = fs.Parse(os.Args[1:])
	if o.binary == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "image: give --binary FILE (and no arguments); see go doc .")
		os.Exit(2)
	}
	img, tag, err := build(o)
	if err == nil {
		err = write(img, tag, out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
	digest, _ := img.Digest()
	fmt.Printf("%s %s %s\n", out, tag, digest)
}
