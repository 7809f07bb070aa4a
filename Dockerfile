# tagdrift as a static binary on a distroless, non-root image.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t tagdrift .
#   docker run --rm -p 127.0.0.1:8080:8080 -e TAGDRIFT_DATABASE_URL=... -e TAGDRIFT_ENCRYPTION_KEY=... tagdrift
#
# The default command is `tagdrift serve`; any other command replaces it, as in
# `docker run --rm tagdrift version`. No HEALTHCHECK: probes are the orchestrator's job
# (/healthz, /readyz). The `demo` stage is the helper image docker-compose.yaml's demo
# services run (docker build --target demo); a plain build skips it. Runtime stages are
# on distroless static-debian13 (debian12 no longer gets updates). Every base image is
# pinned by digest (name:tag@sha256:…; the tag only says what the digest was): a tool
# that finds moved tags does not build on one. cmd/tagdrift/dockerfile_test.go fails on
# an unpinned FROM. To move to newer bases, resolve each tag's digest (crane digest
# golang:1.26-bookworm) and replace it. No Docker engine runs where this is developed:
# the tests parse this file; they do not build it.
FROM golang:1.26-bookworm@sha256:b305420a68d0f229d91eb3b3ed9e519fcf2cf5461da4bef997bf927e8c0bfd2b AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tagdrift ./cmd/tagdrift

FROM build AS build-demo
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/tagdrift-demo ./cmd/tagdrift-demo && \
	mkdir -p /out/state/secrets /out/state/kube

# The compose demo's helper: it makes the secrets, hands k3s's kubeconfig to tagdrift
# and plays the mutation. Its state directories belong to the non-root user, so that
# the named volumes mounted on them start writable.
FROM gcr.io/distroless/static-debian13:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6 AS demo
COPY --from=build-demo /out/tagdrift-demo /out/tagdrift /usr/local/bin/
COPY --from=build-demo --chown=65532:65532 /out/state/ /var/lib/tagdrift/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tagdrift-demo"]

FROM gcr.io/distroless/static-debian13:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6
ARG VERSION=dev
LABEL org.opencontainers.image.title="tagdrift" \
	org.opencontainers.image.description="Finds container images whose tag resolved to different code across Kubernetes clusters" \
	org.opencontainers.image.version="${VERSION}" \
	org.opencontainers.image.source="https://github.com/tagdrift/tagdrift"
COPY --from=build /out/tagdrift /usr/local/bin/tagdrift
# Numeric, so that Kubernetes' runAsNonRoot can verify it (distroless's nonroot user).
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tagdrift"]
CMD ["serve"]
