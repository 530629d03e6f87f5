// Package regions lets an OCR backend recognise only what changed on a
// screen: it hashes a frame tile by tile, keeps per sandbox the text lines
// found on the last frame, and plans, for the next frame, which rectangles
// must be recognised again: the changed tiles, grouped and padded, grown to
// the whole of every cached line they touch. Those lines are dropped and
// read again; the others are reused as they are, so a cached line never
// covers a pixel that changed.
package regions
