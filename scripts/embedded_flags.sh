# The model and schedule of every run on the embedded data set, sized for 2 CPU cores
# (see README "The embedded benchmark"), and the step that makes a synthetic data set.
# Sourced by main_job.sh, ablation_table.sh and the backbone builders, so that a
# pretrained backbone fits the runs that load it. core/experiments.py's embedded_* presets
# hold the same runs (tests/experiments_test.py checks that they agree).
EMBEDDED_FLAGS=(--backbone=mobilenet_v2 --width_multiplier=0.5 --output_stride=16
                --aspp_filters=64 --decoder_filters=64 --low_level_filters=24
                --sgc_dim=32 --crop_size=96,96 --min_scale=0.75 --max_scale=1.25
                --scale_step=0.25 --batch_size=8 --base_learning_rate=0.1
                --weight_decay=1e-5 --warmup_steps=50 --steps_per_loop=25
                --checkpoint_every=200 --summary_every=50 --image_summary_every=300)

# make_embedded_data DIR WHAT [make_synthetic_voc.py flags...]: unless DIR/tfrecord has a
# dataset_info.json, draws a synthetic set in DIR (VOC layout) and converts it to DIR/tfrecord.
# Uses $PY.
make_embedded_data() {
  local data="$1" what="$2"
  shift 2
  if [ -f "${data}/tfrecord/dataset_info.json" ]; then
    return 0
  fi
  echo "== generating the ${what} data set in ${data}"
  "$PY" datasets/make_synthetic_voc.py --output_root="${data}" "$@"
  "$PY" datasets/build_voc2012_data.py \
      --voc_root="${data}/VOCdevkit/VOC2012" --output_dir="${data}/tfrecord" \
      --num_shards=2
}

# make_embedded_split DATA NUM_LABELED SEED: unless it exists, draws the labeled list
# DATA/splits/labeled_NUM_LABELED_seedSEED.txt from DATA/tfrecord's train split. Uses $PY.
make_embedded_split() {
  local data="$1" num="$2" seed="$3"
  if [ -f "${data}/splits/labeled_${num}_seed${seed}.txt" ]; then
    return 0
  fi
  "$PY" datasets/create_splits.py --record_dir="${data}/tfrecord" --split=train \
      --num_labeled="${num}" --seed="${seed}" --output_dir="${data}/splits"
}
