package coord

import "context"

// Progress records which log positions were published to the bus and
// which each consumer group has handled. Positions start at 1.
type Progress interface {
	// MarkPublished records that commits at positions were put on the bus.
	MarkPublished(ctx context.Context, positions ...int64) error
	// MarkConsumed records that group has handled positions.
	MarkConsumed(ctx context.Context, group string, positions ...int64) error
	// Consumed returns the highest W >= from such that group has handled
	// every position in from+1..W; from is a watermark known to be good.
	Consumed(ctx context.Context, group string, from int64) (int64, error)
	// Missing returns which positions in from+1..to are not marked, for the
	// published set when group is "" and for group's consumed set otherwise.
	Missing(ctx context.Context, group string, from, to int64) ([]int64, error)
}
