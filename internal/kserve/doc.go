// Package kserve speaks the KServe v2 / Triton gRPC inference protocol for
// screenfleet: the BYTES tensor layout, the "boxes model" contract shared by
// inferd and any Triton model that follows it, and a small client.
//
// A boxes model takes one input tensor IMAGE (BYTES, shape [N]), each element
// an encoded PNG or JPEG image, and returns one output tensor DETECTIONS
// (BYTES, shape [N]), each element a JSON array of messages.Box in the pixel
// space of the matching image. Replies always carry their data in
// raw_output_contents; requests may carry it raw or typed, never both.
//
// The generated protocol code lives in the inferencepb subpackage; its source
// is proto/inference/grpc_service.proto.
package kserve
