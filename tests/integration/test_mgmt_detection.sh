# Model management, detection: a version made of the face-cascade network returns the boxes
# `fakescope faces --json` finds with the same parameters, scored n / (n + 5) from the
# neighbour count, filtered by the label threshold (strictly greater), and NMS at
# nms_threshold never returns more boxes as the threshold goes down.
. "$(dirname "$0")/mgmt_lib.sh"

fs_start
KEY=$FS_ADMIN_KEY
api_json POST /v0.7/recognition/specs '{"name": "faces", "labels": ["face"], "roi": "BBOX"}'
expect_status "detection spec" 201
SPEC=$(jf .id)
fs_expect "roi" "$(jf .roi)" BBOX

# version NEIGHBOURS THRESHOLD NMS -> id, on a cascade network with min_neighbors NEIGHBOURS.
declare -A NETS
version() {
    local nb=$1 thr=$2 nms=$3
    if [ -z "${NETS[$nb]:-}" ]; then
        api POST /v0.7/networks -F "name=haar-$nb" -F architecture=face-cascade -F "file=@$CASCADE" \
            -F "preprocessing={\"min_neighbors\": $nb, \"max_side\": 640}"
        expect_status "cascade network ($nb)" 201
        fs_expect "cascade min_neighbors" "$(jf .preprocessing.min_neighbors)" "$nb"
        NETS[$nb]=$(jf .id)
    fi
    api_json POST /v0.7/recognition/versions "{\"spec_id\": $SPEC, \"network_id\": ${NETS[$nb]}, \"post_processings\": [{\"detection\": {\"thresholds\": [$thr], \"nms_threshold\": $nms}}]}"
    expect_status "detection version" 201
    jf .id
}

# Boxes as sorted "x,y,w,h,neighbors" lines.
api_boxes() { jf ".result.outputs[$1].labels.predicted[] | .roi | \"\\(.box.x),\\(.box.y),\\(.box.w),\\(.box.h),\\(.neighbors)\"" | sort; }
cli_boxes() { "$FAKESCOPE" faces --json --neighbors "$1" --max-side 640 "$2" | jq -r '.faces[] | "\(.x),\(.y),\(.w),\(.h),\(.neighbors)"' | sort; }

total_cli=0
for nb in 5 2 0; do
    v=$(version "$nb" 0 1)
    infer "$v" "$REAL_FRAME" "$FAKE_FRAME"
    fs_expect "task (neighbours $nb)" "$(jf .status)" done
    i=0
    for f in "$REAL_FRAME" "$FAKE_FRAME"; do
        want=$(cli_boxes "$nb" "$f")
        got=$(api_boxes $i)
        fs_expect "boxes of $(basename "$f"), neighbours $nb, as fakescope faces" "$got" "$want"
        total_cli=$((total_cli + $(echo -n "$want" | grep -c .)))
        # Every predicted box: label, score from neighbours, bbox normalised to the picture.
        fs_expect "labels" "$(jf "[.result.outputs[$i].labels.predicted[].label_name] | unique | join(\",\")")" \
            "$([ -n "$want" ] && echo face)"
        fs_expect "score = n / (n + 5)" \
            "$(jf "[.result.outputs[$i].labels.predicted[] | (.score - (.roi.neighbors / (.roi.neighbors + 5))) | fabs < 1e-6] | all")" true
        fs_expect "bbox normalised" \
            "$(jf ".result.outputs[$i] as \$o | [\$o.labels.predicted[].roi | (.bbox.xmin - .box.x / \$o.width | fabs < 1e-9) and (.bbox.ymax - (.box.y + .box.h) / \$o.height | fabs < 1e-9)] | all")" true
        fs_expect "scores best first" \
            "$(jf "[.result.outputs[$i].labels.predicted[].score] | . == (sort | reverse)")" true
        i=$((i + 1))
    done
done
[ "$total_cli" -gt 2 ] || fs_fail "the frames gave too few boxes ($total_cli) for the comparison to mean anything"

# Thresholds: strictly greater. Real frame, neighbours 5: scores n/(n+5) of the two faces.
v=$(version 5 0 1)
infer "$v" "$REAL_FRAME"
scores=$(jf '[.result.outputs[0].labels.predicted[].score] | sort | join(" ")')
lo=${scores%% *}
hi=${scores##* }
[ "$lo" != "$hi" ] || fs_fail "need two different scores: $scores"
v=$(version 5 "$lo" 1)
infer "$v" "$REAL_FRAME"
fs_expect "threshold = lower score keeps one box" "$(jf '.result.outputs[0].labels.predicted | length')" 1
fs_expect "... and discards the other" "$(jf '.result.outputs[0].labels.discarded | length')" 1
fs_expect "... with its score" "$(jf '.result.outputs[0].labels.discarded[0].score')" "$lo"
v=$(version 5 "$hi" 1)
infer "$v" "$REAL_FRAME"
fs_expect "threshold = higher score keeps none" "$(jf '.result.outputs[0].labels.predicted | length')" 0

# NMS: raw windows (neighbours 0) overlap a lot; a lower nms_threshold never gives more boxes,
# and 0 (any overlap suppresses) gives fewer than 1 (nothing suppressed).
prev=1000000
counts=""
for nms in 1 0.8 0.6 0.4 0.2 0; do
    v=$(version 0 0 "$nms")
    infer "$v" "$REAL_FRAME"
    n=$(jf '.result.outputs[0].labels.predicted | length')
    counts="$counts $nms:$n"
    [ "$n" -le "$prev" ] || fs_fail "nms_threshold $nms gave more boxes than a higher one:$counts"
    # Kept boxes overlap each other by at most the threshold.
    ok=$(jf "[.result.outputs[0].labels.predicted[].roi.box] as \$b | [range(0; \$b | length) as \$i | range(\$i + 1; \$b | length) as \$j |
        (\$b[\$i]) as \$p | (\$b[\$j]) as \$q |
        ([([\$p.x + \$p.w, \$q.x + \$q.w] | min) - ([\$p.x, \$q.x] | max), 0] | max) as \$iw |
        ([([\$p.y + \$p.h, \$q.y + \$q.h] | min) - ([\$p.y, \$q.y] | max), 0] | max) as \$ih |
        (\$iw * \$ih) as \$in | \$in / (\$p.w * \$p.h + \$q.w * \$q.h - \$in) <= $nms + 1e-6] | all")
    fs_expect "kept boxes overlap at most $nms" "$ok" true
    prev=$n
done
echo "boxes kept by nms_threshold (raw windows, real frame):$counts"
first=${counts# 1:}
first=${first%% *}
[ "$n" -lt "$first" ] || fs_fail "nms_threshold 0 suppressed nothing:$counts"
fs_stop || fs_fail "server exit status (leaks or a crash under the sanitizers)"
echo "ok"
