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

/* MobileNetV2 in training form for side x side input: every convolution without a bias and
 * followed by batch norm in torchvision's names (features.0.1, features.N.conv.0.1 and
 * conv.1.1, the projection's features.N.conv.3 (features.1.conv.2), features.18.1), the
 * activation fused into the batch norm, then global pooling and classifier.1, a dense layer of
 * `classes` outputs. Batch norm comes from w's tensors when present (an unfolded file, a
 * checkpoint of this graph); from folded weights it starts as the identity with beta the conv's
 * bias (gamma 1, mean 0, var 1 - eps), so with frozen statistics the graph computes what the
 * folded one does; fs_graph_bn_calibrate then gives it statistics to train from. eps is the
 * metadata bn_eps, else 1e-3 for tf_same weights and 1e-5 otherwise; momentum 0.99.
 * classifier.1 comes from w when its shape is [classes, 1280]; otherwise (an ImageNet head) it
 * starts new: Glorot-uniform weights drawn from seed, bias 0. */
fs_err fs_mobilenetv2_train_graph(const fs_weights *w, int side, int classes, uint64_t seed,
                                  fs_graph **out, fs_msg *msg);

/* Random folded weights of the right names and shapes (He-uniform convolutions drawn from
 * seed, biases 0, classifier.1 of `classes` outputs, metadata padding=tf_same): what
 * benchmarks run, since speed does not depend on the values. out must be empty. */
fs_err fs_mobilenetv2_random(fs_weights *out, int classes, uint64_t seed, fs_msg *msg);

/* Folded weights (what fs_mobilenetv2_graph reads) from training-form ones (fs_graph_export of
 * that graph, with the metadata padding and bn_eps as above): each convolution's weight times
 * s = gamma / sqrt(var + eps) per output channel and its bias beta - mean s, in float32 as the
 * graph's batch norm computes s; classifier.1 and every metadata key copied. FS_ERR_FORMAT names
 * a missing or misshapen tensor. */
fs_err fs_mobilenetv2_fold(const fs_weights *train, fs_weights *out, fs_msg *msg);

/* The weights of an ImageNet MobileNetV2 TFLite file (ops in the converters' order; 8-bit
 * weights dequantized), with metadata padding=tf_same, input_scale and input_zero_point (how
 * 0..255 pixels become the network's input), and source. out must be empty. */
fs_err fs_mobilenetv2_from_tflite(const fs_tflite_model *m, fs_weights *out, fs_msg *msg);

#endif
