# syntax=docker/dockerfile:1
# ezdfsd container image: a static binary (CGO off; modernc.org/sqlite is pure Go) on
# distroless/static (CA certificates and tzdata included, no shell), running as nonroot.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t ezdfsd .
#   docker run -p 8081:8081 -p 9181:9181 -v /mnt/ezdfs:/mnt/ezdfs:ro \
#     -e EZDFSD_MOUNT_POINT=/mnt/ezdfs -e EZDFSD_MYSQL_DSN='ezp:...@tcp(db:3306)/ezp' ezdfsd
# scripts/test builds the same binary with the same flags (CGO_ENABLED=0 -trimpath).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Module downloads are cached in their own layer: they change less often than the code.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/ezdfsd ./cmd/ezdfsd

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ezdfsd /ezdfsd
USER nonroot:nonroot
# Inside a container both listeners must accept connections from outside the container;
# keep the metrics port off the public network (publish it only to the monitoring side).
ENV EZDFSD_LISTEN=:8081 \
    EZDFSD_METRICS_LISTEN=:9181 \
    EZDFSD_LOG_FORMAT=json
# 8081: cluster files; 9181: /metrics, /healthz, /readyz.
EXPOSE 8081 9181
# No shell or curl in distroless: the binary probes itself (liveness only; orchestrators
# should use /readyz on 9181 for traffic decisions).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/ezdfsd", "healthcheck", "--url", "http://127.0.0.1:9181/healthz"]
# SIGTERM → /readyz 503, drain, graceful shutdown (EZDFSD_SHUTDOWN_TIMEOUT, default 30s):
# give the container a longer stop timeout (docker stop -t 35, terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/ezdfsd"]
CMD ["serve"]
