package pgtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"sync"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
)

// source is where the test server comes from.
type source int

const (
	sourceNone   source = iota // neither: tests skip, or fail under CI=true
	sourceURL                  // TAGDRIFT_TEST_DATABASE_URL
	sourceDocker               // a PostgreSQL container started with testcontainers-go
)

// chooseSource picks the server: the URL given wins; without one, a container when a
// Docker engine answers; else none.
func chooseSource(url string, dockerAvailable func() bool) source {
	switch {
	case url != "":
		return sourceURL
	case dockerAvailable():
		return sourceDocker
	}
	return sourceNone
}

// DockerImage is the PostgreSQL image started where no URL is given.
const DockerImage = "postgres:16-alpine"

// quiet keeps testcontainers' progress lines out of test output.
var quiet = log.New(io.Discard, "", 0)

// dockerAvailable reports whether a Docker engine answers, as testcontainers-go finds
// it (DOCKER_HOST, ~/.testcontainers.properties, the usual sockets).
func dockerAvailable() bool {
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(quiet))
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return p.Health(ctx) == nil // Health closes the provider
}

// container is the one PostgreSQL container of this test process: started on first
// use and removed by testcontainers' reaper when the process ends.
var container struct {
	once sync.Once
	url  string
	err  error
}

// dockerServer starts the container once and returns its superuser URL.
func dockerServer(ctx context.Context) (string, error) {
	container.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		c, err := tcpostgres.Run(ctx, DockerImage,
			tcpostgres.WithDatabase("postgres"), tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"),
			tcpostgres.BasicWaitStrategies(), testcontainers.WithLogger(quiet))
		if err != nil {
			container.err = fmt.Errorf("start PostgreSQL in Docker (%s): %w", DockerImage, err)
			return
		}
		container.url, container.err = c.ConnectionString(ctx, "sslmode=disable")
	})
	return container.url, container.err
}

// serverURL is the test server's URL: TAGDRIFT_TEST_DATABASE_URL, else a container
// where Docker runs, else ErrNoServer.
func serverURL(ctx context.Context, url string) (string, error) {
	switch chooseSource(url, dockerAvailable) {
	case sourceURL:
		return url, nil
	case sourceDocker:
		return dockerServer(ctx)
	}
	return "", ErrNoServer
}
