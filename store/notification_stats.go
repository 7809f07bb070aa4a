package store

import (
	"context"
	"fmt"
	"time"
)

// ChannelStats is what a channel's deliveries say at a glance, for the channels page:
// its latest delivery and how many gave up.
type ChannelStats struct {
	// LastStatus is the latest delivery's status ("" for a channel that has none),
	// LastAt when it last changed and LastError its error class.
	LastStatus string
	LastAt     time.Time
	LastError  string
	// Failed counts the deliveries that gave up.
	Failed int
}

// ChannelStatsByID returns the stats of every channel that has deliveries, by channel
// id.
func (s *Store) ChannelStatsByID(ctx context.Context) (map[int64]ChannelStats, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT c.id, last.status, last.updated_at, last.last_error,
		       (SELECT count(*) FROM notification_deliveries f WHERE f.channel_id = c.id AND f.status = 'failed')
		FROM notification_channels c
		CROSS JOIN LATERAL (
			SELECT d.status, d.updated_at, d.last_error FROM notification_deliveries d
			WHERE d.channel_id = c.id ORDER BY d.id DESC LIMIT 1) last`)
	if err != nil {
		return nil, fmt.Errorf("channel stats: %w", err)
	}
	defer rows.Close()
	out := map[int64]ChannelStats{}
	for rows.Next() {
		var id int64
		var st ChannelStats
		if err := rows.Scan(&id, &st.LastStatus, &st.LastAt, &st.LastError, &st.Failed); err != nil {
			return nil, fmt.Errorf("channel stats: %w", err)
		}
		out[id] = st
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("channel stats: %w", err)
	}
	return out, nil
}
