# Builds tagdrift into a static binary on a distroless, non-root image.
#   docker build -t tagdrift .
#   docker run --rm -v ~/.kube/config:/kubeconfig:ro tagdrift scan --kubeconfig /kubeconfig
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tagdrift ./cmd/tagdrift

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tagdrift /usr/local/bin/tagdrift
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/tagdrift"]
