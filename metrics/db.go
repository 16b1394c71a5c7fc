package metrics

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
)

// DBMonitor returns a MongoDB command monitor that counts every command
// the driver sends (one round trip each) in seatline_db_operations_total,
// by database, collection and kind. Handshakes and heartbeats are not
// commands of ours and are not counted.
func (m *Metrics) DBMonitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			m.dbOps.WithLabelValues(e.DatabaseName, commandCollection(e.CommandName, e.Command), e.CommandName).Inc()
		},
	}
}

// commandCollection names the collection a command works on: the value of
// its first element for insert, find, update, delete and the like, the
// "collection" field for getMore, "" for commands on no collection.
func commandCollection(name string, cmd bson.Raw) string {
	if name == "getMore" {
		if v, err := cmd.LookupErr("collection"); err == nil {
			if s, ok := v.StringValueOK(); ok {
				return s
			}
		}
		return ""
	}
	elems, err := cmd.Elements()
	if err != nil || len(elems) == 0 {
		return ""
	}
	if s, ok := elems[0].Value().StringValueOK(); ok {
		return s
	}
	return ""
}
