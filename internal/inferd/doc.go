// Package inferd is the CPU inference server: it serves screenfleet's
// built-in screen models (OCR with Tesseract, later UI element detection)
// over the KServe v2 / Triton gRPC protocol, so workers talk to it exactly as
// they talk to Triton, and serves metrics and health over HTTP.
package inferd
