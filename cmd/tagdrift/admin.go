package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/tagdrift/tagdrift/store"
	"github.com/tagdrift/tagdrift/store/keyring"
)

// migrateCmd is `tagdrift migrate up|down N|version`.
type migrateCmd struct {
	databaseFlag `embed:""`

	Up      migrateUpCmd      `cmd:"" help:"Migrate to the newest schema."`
	Down    migrateDownCmd    `cmd:"" help:"Undo the newest N migrations."`
	Version migrateVersionCmd `cmd:"" help:"Print the schema's version."`
}

type migrateUpCmd struct{}

func (migrateUpCmd) Run(d *deps, c *migrateCmd) error {
	return c.migrate(d, (*store.Migrator).Up)
}

type migrateDownCmd struct {
	N int `arg:"" help:"how many migrations to undo"`
}

func (down migrateDownCmd) Run(d *deps, c *migrateCmd) error {
	if down.N <= 0 {
		return usageError("migrate down takes a positive number of steps, not %d", down.N)
	}
	return c.migrate(d, func(m *store.Migrator) error { return m.Down(down.N) })
}

type migrateVersionCmd struct{}

func (migrateVersionCmd) Run(d *deps, c *migrateCmd) error {
	return c.migrate(d, func(*store.Migrator) error { return nil })
}

// migrate runs step on the database's schema and prints its version after.
func (c *migrateCmd) migrate(d *deps, step func(*store.Migrator) error) error {
	if err := c.need(); err != nil {
		return err
	}
	m, err := store.NewMigrator(c.DatabaseURL)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := step(m); err != nil {
		return err
	}
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	latest, err := store.Latest()
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "schema version %d of %d", v, latest)
	if dirty {
		fmt.Fprint(d.stdout, " (dirty)")
	}
	fmt.Fprintln(d.stdout)
	return nil
}

// keysCmd is `tagdrift keys generate|rotate`.
type keysCmd struct {
	Generate keysGenerateCmd `cmd:"" help:"Print a new encryption key."`
	Rotate   keysRotateCmd   `cmd:"" help:"Re-seal every stored credential under the newest key."`
}

type keysGenerateCmd struct{}

func (keysGenerateCmd) Run(d *deps) error {
	b := make([]byte, keyring.KeySize)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	_, err := fmt.Fprintln(d.stdout, base64.StdEncoding.EncodeToString(b))
	return err
}

type keysRotateCmd struct {
	databaseFlag `embed:""`
	keyFlags     `embed:""`
}

func (c *keysRotateCmd) Run(ctx context.Context, d *deps) error {
	if err := c.need(); err != nil {
		return err
	}
	ring, err := c.ring(d.getenv)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, c.DatabaseURL, ring, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.RotateKeys(ctx, 100)
	fmt.Fprintf(d.stdout, "re-sealed %d cluster credentials under key %08x\n", n, ring.Primary())
	if err != nil {
		return err
	}
	n, err = st.RotateChannelKeys(ctx)
	fmt.Fprintf(d.stdout, "re-sealed %d notification channel secrets under key %08x\n", n, ring.Primary())
	return err
}
