package domain

// Event is a fact recorded by an aggregate. Name is the stored, versioned
// name ("show.SeatsHeld.v1"); it never changes once events with it exist.
type Event interface {
	Name() string
}

// Recorder collects the events an aggregate decides during one command.
// Aggregates embed it and call Record from their decision methods, after
// applying the event to their own state.
type Recorder struct {
	changes []Event
}

// Record remembers e as decided but not yet committed.
func (r *Recorder) Record(e Event) { r.changes = append(r.changes, e) }

// Changes returns the events recorded since the last ClearChanges.
func (r *Recorder) Changes() []Event { return r.changes }

// ClearChanges forgets recorded events, after they were committed or discarded.
func (r *Recorder) ClearChanges() { r.changes = nil }
