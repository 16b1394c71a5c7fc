package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/seatline/seatline/eventstore"
	"github.com/seatline/seatline/internal/testenv"
)

const childEnv = "SEATLINE_EVENTSTORE_CHILD"

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		appendForever(name)
		return
	}
	os.Exit(m.Run())
}

// appendForever is the body of a child process: it appends commits of 1-5
// events to eight shared streams from eight goroutines until it is killed.
func appendForever(writer string) {
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(os.Getenv("MONGO_URI")))
	if err != nil {
		panic(err)
	}
	s, err := eventstore.Open(ctx, client.Database(os.Getenv("TEST_DB")), registry(), eventstore.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println("ready")
	for g := 0; g < 8; g++ {
		go func(g int) {
			known := map[string]int64{}
			for i := 0; ; i++ {
				stream := fmt.Sprintf("crash-%d", (g+i)%8)
				atLeast := int64(0)
				for {
					cs, err := s.ReadStream(ctx, stream, known[stream], atLeast)
					if err != nil {
						panic(err)
					}
					if len(cs) > 0 {
						known[stream] = cs[len(cs)-1].Version
					}
					c, err := s.Append(ctx, stream, known[stream], events(stream, 1+rand.IntN(5), writer))
					if errors.Is(err, eventstore.ErrConcurrency) {
						atLeast = known[stream] + 1
						continue
					}
					if err != nil {
						panic(err)
					}
					known[stream] = c.Version
					break
				}
			}
		}(g)
	}
	select {}
}

// TestKillMidAppend runs two appending processes against one database and
// kills them with SIGKILL at random moments, three times over. Afterwards
// the log has no gaps, every commit holds all of its events, every stream's
// versions chain without overlap, and a new store reads and extends every
// stream.
func TestKillMidAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	uri := testenv.MongoURI(t)
	db := testenv.Database(t)
	for round := 0; round < 3; round++ {
		var procs []*exec.Cmd
		for w := 0; w < 2; w++ {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"="+fmt.Sprintf("r%dw%d", round, w), "MONGO_URI="+uri, "TEST_DB="+db.Name())
			cmd.Stderr = os.Stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 6)
			if _, err := out.Read(buf); err != nil {
				t.Fatalf("child did not start: %v", err)
			}
			procs = append(procs, cmd)
		}
		for _, p := range procs {
			time.Sleep(time.Duration(200+rand.IntN(400)) * time.Millisecond)
			_ = p.Process.Signal(syscall.SIGKILL)
			_ = p.Wait()
		}
	}

	s := open(t, db)
	head := s.KnownHead()
	if head < 50 {
		t.Fatalf("only %d commits were written; the children did not run", head)
	}
	all, err := s.ReadRange(ctx, 1, head)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(all)) != head {
		t.Fatalf("positions 1..%d hold %d commits: the log has gaps", head, len(all))
	}
	versions := map[string]int64{}
	for _, c := range all {
		for i, e := range c.Events {
			h := e.Event.(happened)
			if h.Of != len(c.Events) || h.Seq != i+1 {
				t.Fatalf("commit %d is torn: event %d says %d of %d, commit has %d", c.Position, i, h.Seq, h.Of, len(c.Events))
			}
		}
		if c.Base != versions[c.StreamID] {
			t.Fatalf("commit %d of %s starts at %d, stream was at %d", c.Position, c.StreamID, c.Base, versions[c.StreamID])
		}
		versions[c.StreamID] = c.Version
	}
	for stream, v := range versions {
		cs, err := s.ReadStream(ctx, stream, 0, v)
		if err != nil {
			t.Fatalf("read %s to %d: %v", stream, v, err)
		}
		if cs[len(cs)-1].Version != v {
			t.Fatalf("%s read to %d, want %d", stream, cs[len(cs)-1].Version, v)
		}
		if _, err := s.Append(ctx, stream, v, events(stream, 1, "after")); err != nil {
			t.Fatalf("append to %s after the crash: %v", stream, err)
		}
	}
	t.Logf("%d commits over %d streams survived 6 kills intact", head, len(versions))
}
