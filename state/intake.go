package state

import (
	"context"
	"fmt"
	"strconv"
)

// The intake holds the updates long polling fetched and the processor has
// not handled yet, so that the poller may confirm them to Telegram (move
// its offset past them) before they are handled without losing one to a
// crash: a process that starts hands on what the intake holds first. Its
// bound is the updates in hand: each leaves once handled.
func (s *Store) intakeKey() string { return s.prefix + "intake" }

// Keep puts updates (update_id to the update as Telegram sent it) in the
// intake, in one round trip.
func (s *Store) Keep(ctx context.Context, updates map[int64][]byte) error {
	if len(updates) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(updates))
	for id, raw := range updates {
		args = append(args, strconv.FormatInt(id, 10), raw)
	}
	if err := s.rdb.HSet(ctx, s.intakeKey(), args...).Err(); err != nil {
		return fmt.Errorf("keep updates: %w", err)
	}
	return nil
}

// Drop removes handled updates from the intake, in one round trip.
func (s *Store) Drop(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	fields := make([]string, len(ids))
	for i, id := range ids {
		fields[i] = strconv.FormatInt(id, 10)
	}
	if err := s.rdb.HDel(ctx, s.intakeKey(), fields...).Err(); err != nil {
		return fmt.Errorf("drop handled updates: %w", err)
	}
	return nil
}

// Kept is everything the intake holds.
func (s *Store) Kept(ctx context.Context) (map[int64][]byte, error) {
	vals, err := s.rdb.HGetAll(ctx, s.intakeKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("read kept updates: %w", err)
	}
	out := make(map[int64][]byte, len(vals))
	for k, v := range vals {
		if id, err := strconv.ParseInt(k, 10, 64); err == nil {
			out[id] = []byte(v)
		}
	}
	return out, nil
}
