package sagas

// Partitioner tells which partition of the bus a stream's commits go to
// (the bus implements it): the jobs a saga adds for a booking go to the
// queue of the booking's partition, which runs in the process that
// consumes that partition.
type Partitioner interface {
	Partitions() int
	Partition(stream string) int
}

// OnePartition is the Partitioner of a bus without partitions.
type OnePartition struct{}

// Partitions implements Partitioner.
func (OnePartition) Partitions() int { return 1 }

// Partition implements Partitioner.
func (OnePartition) Partition(string) int { return 0 }
