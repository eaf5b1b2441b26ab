# syntax=docker/dockerfile:1
# foresight's container image, for users with Docker (or any BuildKit builder):
#   docker build -t foresight:dev .
# Without a container engine, `make image` builds an equivalent image tarball
# (image/, go-containerregistry): same binary path, user and entrypoint.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
# Static: the runtime image has no C library. -buildvcs=false because .git is
# not in the build context (.dockerignore); the version comes from VERSION.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/foresight ./cmd/foresight

# distroless static: CA certificates, /etc/passwd with nonroot (65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=""
LABEL org.opencontainers.image.title="foresight" \
      org.opencontainers.image.description="Predictive autoscaling for Kubernetes: the KEDA external scaler foresight serve" \
      org.opencontainers.image.source="https://github.com/foresight-aiops/foresight" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/foresight /usr/local/bin/foresight
USER 65532:65532
EXPOSE 9090 8080
ENTRYPOINT ["/usr/local/bin/foresight"]
