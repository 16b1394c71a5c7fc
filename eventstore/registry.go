package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/seatline/seatline/domain"
)

// ErrUnknownEvent is returned when a stored event name is not registered.
var ErrUnknownEvent = errors.New("eventstore: unknown event name")

// Upcaster turns the stored payload of an old event version into the payload
// of the next version.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

type upcast struct {
	to string
	fn Upcaster
}

// Registry maps stored event names to Go types. It is built once in main;
// nothing registers itself.
type Registry struct {
	types    map[string]reflect.Type
	upcasts  map[string]upcast
	registry []string
}

// NewRegistry returns a registry of the given event prototypes (zero values).
func NewRegistry(protos ...domain.Event) *Registry {
	r := &Registry{types: map[string]reflect.Type{}, upcasts: map[string]upcast{}}
	r.Register(protos...)
	return r
}

// Register adds event prototypes. Registering a name twice with different
// types panics: it is a programming error caught at start-up.
func (r *Registry) Register(protos ...domain.Event) {
	for _, p := range protos {
		t := reflect.TypeOf(p)
		if old, ok := r.types[p.Name()]; ok && old != t {
			panic(fmt.Sprintf("eventstore: %s registered as %v and %v", p.Name(), old, t))
		}
		r.types[p.Name()] = t
		r.registry = append(r.registry, p.Name())
	}
}

// Upcast declares that events stored as from are read by converting their
// payload with fn and decoding them as to. Chains (v1 → v2 → v3) are followed.
func (r *Registry) Upcast(from, to string, fn Upcaster) {
	r.upcasts[from] = upcast{to: to, fn: fn}
}

// Names lists the registered event names.
func (r *Registry) Names() []string { return append([]string(nil), r.registry...) }

// Encode returns the stored name and payload of e.
func (r *Registry) Encode(e domain.Event) (string, []byte, error) {
	if _, ok := r.types[e.Name()]; !ok {
		return "", nil, fmt.Errorf("%w: %s", ErrUnknownEvent, e.Name())
	}
	data, err := json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("eventstore: encode %s: %w", e.Name(), err)
	}
	return e.Name(), data, nil
}

// Decode turns a stored name and payload into an event of the current
// version, upcasting as needed. It returns the decoded event's name.
func (r *Registry) Decode(name string, data []byte) (domain.Event, error) {
	for hops := 0; ; hops++ {
		u, ok := r.upcasts[name]
		if !ok {
			break
		}
		if hops > 32 {
			return nil, fmt.Errorf("eventstore: upcast loop at %s", name)
		}
		out, err := u.fn(data)
		if err != nil {
			return nil, fmt.Errorf("eventstore: upcast %s to %s: %w", name, u.to, err)
		}
		name, data = u.to, out
	}
	t, ok := r.types[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownEvent, name)
	}
	v := reflect.New(t)
	if err := json.Unmarshal(data, v.Interface()); err != nil {
		return nil, fmt.Errorf("eventstore: decode %s: %w", name, err)
	}
	return v.Elem().Interface().(domain.Event), nil
}
