# syntax=docker/dockerfile:1

# GopherOps container image: a static, CGO-free gopherops binary on a distroless,
# non-root base. Multi-arch: the build stage always runs on the builder's native
# platform and cross-compiles for TARGETOS/TARGETARCH, so no emulation is needed.
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v1.2.3 --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t gopherops:dev .

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# The service module builds on its own (its go.mod replaces the migrations module
# with ../migrations), so the image needs neither the workspace nor infra/ or test/.
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=readonly

# Dependencies first: this layer is reused until a go.mod or go.sum changes.
COPY migrations/go.mod migrations/
COPY service/go.mod service/go.sum service/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd service && go mod download

COPY migrations/ migrations/
COPY service/ service/

ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd service && GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags="-s -w \
        -X github.com/gopherops/gopherops/service/internal/buildinfo.Version=${VERSION} \
        -X github.com/gopherops/gopherops/service/internal/buildinfo.Commit=${COMMIT} \
        -X github.com/gopherops/gopherops/service/internal/buildinfo.Date=${BUILD_DATE}" \
      -o /out/gopherops ./cmd/gopherops

FROM gcr.io/distroless/static-debian13:nonroot AS runtime
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
ARG SOURCE_URL=https://github.com/gopherops/gopherops
LABEL org.opencontainers.image.title="gopherops" \
      org.opencontainers.image.description="GopherOps: users, dashboard and status service" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${BUILD_DATE}"

COPY --from=build /out/gopherops /usr/local/bin/gopherops

# Containers listen on every interface; the admin listener (metrics, pprof) is
# published to nobody but the scraper. Production is the default: it refuses
# insecure settings, so local runs say APP_ENV=development explicitly.
ENV APP_ENV=production \
    HTTP_ADDR=:8080 \
    ADMIN_ADDR=:9090 \
    LOG_FORMAT=json

# 65532 is distroless's "nonroot" user; numeric so Kubernetes runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 9090

HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/gopherops", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/gopherops"]
CMD ["serve"]
