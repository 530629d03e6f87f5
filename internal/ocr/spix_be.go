//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package ocr

// at is the index in a spix row of pixel x: on a big-endian host a word's
// most significant byte, its first pixel, comes first.
func at(x int) int { return x }
