// Package yolo pre- and post-processes YOLOv8 detection tensors: letterboxing
// a frame into the model's FP32 NCHW input, decoding the raw output
// [B, 4+classes, anchors] (or its transpose) with class-agnostic or per-class
// NMS, decoding the EfficientNMS output form, and mapping boxes back to frame
// pixels with exactly the scale and padding used going in (field case C12).
package yolo
