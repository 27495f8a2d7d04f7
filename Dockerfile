# syntax=docker/dockerfile:1
# mlflow-gate: one static binary on a distroless base (no shell, no package
# manager, runs as uid 65532). Build: docker build --build-arg VERSION=v1.2.3 \
#   --build-arg COMMIT="$(git rev-parse HEAD)" --build-arg BUILD_DATE="$(date -u +%FT%TZ)" .

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
ARG BUILD_DATE=unknown
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false
# Dependencies first, so editing the source does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	GOOS=$TARGETOS GOARCH=$TARGETARCH \
	go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.buildDate=${BUILD_DATE}" -o /out/mlflow-gate ./cmd/mlflow-gate

# distroless/static carries CA certificates and tzdata, which is all a static
# Go binary needs for https to S3 or MLflow.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mlflow-gate /mlflow-gate
USER nonroot:nonroot
# 8080: the gate (MLFLOW_GATE_LISTEN). Prometheus metrics listen on
# MLFLOW_GATE_METRICS_LISTEN (127.0.0.1:9464 unless set) and are not exposed.
EXPOSE 8080
# No HEALTHCHECK: the image has no shell or HTTP client. Probe GET /healthz
# (alive) and GET /readyz (database and MLflow reachable) from the outside.
ENTRYPOINT ["/mlflow-gate"]
CMD ["serve"]
