/* explain.c: explanations of a scan's scores (detect/). For a crop a model judged, the
 * Grad-CAM of that model (models/gradcam.c: fake logit, backward to the last conv block) and
 * the picture people look at: the heat map over the crop. The network is the scanner's own
 * (read-only, shared), so an explanation needs no second copy of the weights. */
#include "fakescope/detect.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "fakescope/plot.h"

void fs_explanation_free(fs_explanation *x) {
    if (!x) return;
    fs_gradcam_free(&x->cam);
    fs_image_free(&x->overlay);
}

fs_err fs_scanner_explain(fs_scanner *s, int model, const fs_image *crop, fs_explanation *out,
                          fs_msg *msg) {
    memset(out, 0, sizeof *out);
    const fs_net *net = fs_scanner_net(s, model);
    if (!net) return fs_fail(msg, FS_ERR_INVALID, "no model %d in this scanner", model);
    if (!crop || !crop->rgb || crop->w < 1 || crop->h < 1)
        return fs_fail(msg, FS_ERR_INVALID, "no crop to explain (scan with keep_crops)");
    const fs_arch *a = fs_net_arch(net);
    fs_image sized = {0};
    const fs_image *in = crop;
    fs_err err = FS_OK;
    if (crop->w != a->input_w || crop->h != a->input_h) {
        err = fs_image_resize(crop, a->input_w, a->input_h, &sized, msg);
        if (err) return err;
        in = &sized;
    }
    float *x = malloc((size_t)a->input_w * a->input_h * a->input_c * sizeof(float));
    if (!x) {
        fs_image_free(&sized);
        return fs_fail(msg, FS_ERR_NOMEM, "out of memory for the model input");
    }
    fs_image_to_float(in, a->input_scale, x);
    fs_image_free(&sized);
    err = fs_net_gradcam(net, x, &out->cam, msg);
    free(x);
    if (!err)
        err = fs_heatmap_overlay(crop, out->cam.heat, out->cam.w, out->cam.h, FS_EXPLAIN_ALPHA,
                                 FS_CMAP_VIRIDIS, &out->overlay, msg);
    if (err) fs_explanation_free(out);
    return err;
}
