// Package messages defines what screenfleet's processes say to each other:
// tasks, frames, detections, progress and task state, the subjects they travel
// on, and the error codes that cross process boundaries.
//
// Everything machine-to-machine is msgpack with a version field; tasks are
// also accepted as JSON so that a person can submit one with the nats CLI.
// The package imports no transport.
package messages

// Version is the wire version written into every message this package encodes.
const Version = 1
