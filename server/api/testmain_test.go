package api

import (
	"os"
	"testing"

	"github.com/tagdrift/tagdrift/internal/storetest"
)

// TestMain migrates one template database for the package; storetest.New clones it
// for each test.
func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }
