// Package ocr finds words and lines of text on screen images with Tesseract
// (through gosseract), tuned for UI screenshots.
//
// Tesseract's OpenMP threads make it several times slower when more than one
// engine runs per core, so the process that uses this package must start with
// OMP_THREAD_LIMIT=1 in its environment; setting it from Go after start has
// no effect (cmd/inferd re-executes itself to get it). A Pool then runs one
// single-threaded engine per core.
package ocr
