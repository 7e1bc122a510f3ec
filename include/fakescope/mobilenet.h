/* mobilenet (models/): MobileNetV2 (width 1.0) as an fs_graph built from named weights, and the
 * conversion of the ImageNet TFLite files into those weights.
 *
 * Weights use torchvision's names with batch norm folded into each convolution, so every conv
 * has a ".weight" (PyTorch layout) and a ".bias": features.0.0 (3x3 stride 2, 3 -> 32),
 * features.1.conv.0.0 (depthwise) and features.1.conv.1 (project), then for blocks 2..17
 * features.N.conv.0.0 (expand 1x1), features.N.conv.1.0 (depthwise 3x3), features.N.conv.2
 * (project 1x1), features.18.0 (1x1 -> 1280) and classifier.1 (dense, [classes][1280]). ReLU6
 * follows every conv but the projections; a block adds its input when its stride is 1 and its
 * channels are unchanged.
 *
 * Padding: the metadata key "padding" says how the weights were trained: "tf_same"
 * (TensorFlow: the extra row and column of a stride-2 conv at the bottom and right, as the
 * TFLite files were) or "symmetric" (torchvision's padding=1); absent means symmetric. */
#ifndef FAKESCOPE_MOBILENET_H
#define FAKESCOPE_MOBILENET_H

#include "fakescope/core.h"
#include "fakescope/graph.h"
#include "fakescope/tflite.h"
#include "fakescope/weights.h"

#define FS_MOBILENETV2_BLOCKS 17

/* The graph for side x side RGB input (side a multiple of 32). FS_ERR_FORMAT names a missing
 * or misshapen tensor. The number of classes is classifier.1's. */
fs_err fs_mobilenetv2_graph(const fs_weights *w, int side, fs_graph **out, fs_msg *msg);

/* The weights of an ImageNet MobileNetV2 TFLite file (ops in the converters' order; 8-bit
 * weights dequantized), with metadata padding=tf_same, input_scale and input_zero_point (how
 * 0..255 pixels become the network's input), and source. out must be empty. */
fs_err fs_mobilenetv2_from_tflite(const fs_tflite_model *m, fs_weights *out, fs_msg *msg);

#endif
