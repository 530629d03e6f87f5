// Package regions lets an OCR backend recognise only what changed on a
// screen: it hashes a frame tile by tile, keeps per sandbox the text lines
// found on the last frame, and plans, for the next frame, which horizontal
// bands must be recognised again. Lines that touch a changed band are
// dropped and read again; the others are reused as they are, so a cached
// line never covers a pixel that changed.
package regions
