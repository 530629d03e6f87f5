//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package ocr

// at is the index in a spix row of pixel x: the 4 pixels of a word are
// stored most significant byte first, so on a little-endian host their
// bytes come in reverse order within the word.
func at(x int) int { return x&^3 | (3 - x&3) }
